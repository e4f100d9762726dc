/**
 * The proxy over real links: omicron's `tq_proxy` scenario over mutual TLS, and a destination that
 * dies or goes silent mid-request — every caller ends, within a bound, in a typed outcome.
 */
import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Result } from "effect"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as ProxyOperation from "../../src/runtime/ProxyOperation.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { connected, eventually, mesh, proofOf, rackId, reconfigureMsg, restartable, secrets, sled } from "./rack.ts"
import { helloFrame } from "./rawPeer.ts"

describe("tq_proxy over mutual TLS", () => {
  it.live("commit, prepare-and-commit and status reach a node through a member's proxy, with typed errors", () =>
    Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const nodes = yield* Effect.forEach([0, 1, 2, 3], (i) =>
        Effect.flatMap(RackPki.issueNodeCertificate(ca, String(sled(i))), (creds) =>
          restartable(i, Transport.tls(creds), Ledger.memory<PersistentState>())
        )
      )
      const [a, b, c, d] = nodes
      if (!a || !b || !c || !d) throw new Error("nodes")
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      yield* a.node.reconfigure(reconfigureMsg(1, [0, 1, 2, 3], 3, null, a.node.id))
      const status = yield* eventually(
        a.node.coordinatorStatus,
        (s) => Option.isSome(s) && s.value.ackedPrepares.length === 4
      )
      const config = Option.getOrThrow(status).config
      const proof = proofOf(config)
      for (const n of [a, b, c]) assert.strictEqual(yield* n.node.commit(rackId, 1, proof), "Committed")

      const proxy = a.node.proxy
      const dest = sled(3)
      assert.strictEqual(yield* proxy.commit(dest, rackId, 1, proof), "Committed")
      assert.strictEqual(yield* proxy.commit(dest, rackId, 1, proof), "Committed")
      assert.strictEqual(yield* proxy.prepareAndCommit(dest, config, proof), "Committed")
      const notPrepared = yield* proxy
        .commit(dest, rackId, 2, proof)
        .pipe(Effect.catchTag("NotPrepared", (e) => Effect.succeed(`NotPrepared(${e.epoch})`)))
      assert.strictEqual(notPrepared, "NotPrepared(2)")
      const remote = yield* proxy.status(dest)
      assert.deepStrictEqual(remote.persistentState.commits, [1])
      assert.strictEqual(remote.proxiedRequests, 0)

      yield* d.stop
      const gone = yield* proxy
        .status(dest)
        .pipe(Effect.catchTag("Disconnected", (e) => Effect.succeed(`Disconnected(${e.destination})`)))
      assert.strictEqual(gone, `Disconnected(${dest})`)

      yield* d.start
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      // The proxied commit was persisted at node 3: it unlocks the same secret as everyone.
      assert.strictEqual(new Set(yield* secrets(nodes, 1)).size, 1)
      const again = yield* eventually(Effect.result(proxy.status(dest)), Result.isSuccess)
      assert.isTrue(Result.isSuccess(again))
      assert.strictEqual((yield* a.node.status).proxiedRequests, 0)
    })
  )
})

/** A peer over raw TCP that dials `port`, completes the handshake, then reads requests and never answers. */
const silentPeer = (port: number, id = sled(3)) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const socket = net.connect(port, "127.0.0.1")
      socket.on("error", () => undefined)
      socket.resume()
      socket.write(helloFrame(id))
      return socket
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

describe("a destination that dies or goes silent mid-request", () => {
  const start = Effect.gen(function* () {
    const origin = yield* restartable(0, Transport.insecureTcp, Ledger.memory<PersistentState>())
    const socket = yield* silentPeer(origin.node.listenAddress.port)
    yield* eventually(origin.node.status, (s) => s.connectedPeers.length === 1)
    return { origin, socket }
  })

  it.live("the destination's socket is destroyed while a request waits: the caller gets Disconnected", () =>
    Effect.gen(function* () {
      const { origin, socket } = yield* start
      const call = yield* Effect.forkChild(origin.node.proxy.status(sled(3)), { startImmediately: true })
      yield* eventually(origin.node.status, (s) => s.proxiedRequests === 1)
      socket.destroy()
      const error = yield* Effect.flip(Fiber.join(call).pipe(Effect.timeout("5 seconds")))
      assert.strictEqual(error._tag, "Disconnected")
      assert.strictEqual((yield* origin.node.status).proxiedRequests, 0)
    })
  )

  it.live("a silent destination: the caller's timeout gives ProxyTimeout and removes the entry", () =>
    Effect.gen(function* () {
      const { origin } = yield* start
      const error = yield* Effect.flip(
        origin.node.proxy.call(ProxyOperation.Status, sled(3), {}, { timeout: "200 millis" })
      )
      assert.isTrue(error._tag === "ProxyTimeout" && error.millis === 200)
      assert.strictEqual((yield* origin.node.status).proxiedRequests, 0)
    })
  )
})

describe("a burst of proxied requests", () => {
  it.live("256 concurrent proxied calls all succeed over one link, which stays up (no WriteQueueFull)", () =>
    Effect.gen(function* () {
      // All 256 reach the link at once, more than its 32 protocol slots: proxy admission is the tracker's alone.
      const nodes = yield* Effect.forEach([0, 1], (i) =>
        restartable(i, Transport.insecureTcp, Ledger.memory<PersistentState>())
      )
      yield* mesh(nodes)
      yield* connected(nodes, 1)
      const [a, b] = nodes
      if (!a || !b) throw new Error("nodes")
      const before = (yield* a.node.connections).map((c) => c.connectionId)
      const results = yield* Effect.forEach(
        Array.from({ length: 256 }),
        () => Effect.result(a.node.proxy.status(b.node.id)),
        {
          concurrency: "unbounded"
        }
      )
      assert.strictEqual(results.filter(Result.isSuccess).length, 256)
      assert.deepStrictEqual(
        (yield* a.node.connections).map((c) => c.connectionId),
        before
      )
    })
  )

  it.live("one proxied-call effect run again is a new request: Disconnected before the link, a status after", () =>
    Effect.gen(function* () {
      const nodes = yield* Effect.forEach([0, 1], (i) =>
        restartable(i, Transport.insecureTcp, Ledger.memory<PersistentState>())
      )
      const [a, b] = nodes
      if (!a || !b) throw new Error("nodes")
      const status = a.node.proxy.status(b.node.id)
      const before = yield* Effect.flip(status)
      assert.deepStrictEqual(
        [before._tag, before._tag === "Disconnected" ? before.connectionId : -1],
        ["Disconnected", null]
      )
      yield* mesh(nodes)
      yield* connected(nodes, 1)
      const after = yield* status
      assert.deepStrictEqual(after.connectedPeers.map(String), [String(a.node.id)])
    })
  )
})
