/**
 * Fair admission over real sockets: the API keeps slots link traffic cannot take, a flooding peer slows only
 * its own link, and proxied calls are admitted by the tracker's bound alone (256 in flight, `Busy` beyond).
 */
import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Result } from "effect"
import * as Frame from "../../src/runtime/Frame.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Wire from "../../src/runtime/Wire.ts"
import { PeerMsg, PrepareAck } from "../../src/types/PeerMsg.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { connected, eventually, mesh, rackId, restartable, sled } from "./rack.ts"
import { helloFrame } from "./rawPeer.ts"

const startPair = Effect.gen(function* () {
  const nodes = yield* Effect.forEach([0, 1], (i) =>
    restartable(i, Transport.insecureTcp, Ledger.memory<PersistentState>())
  )
  yield* mesh(nodes)
  yield* connected(nodes, 1)
  const [a, b] = nodes
  if (!a || !b) throw new Error("nodes")
  return { a: a.node, b: b.node }
})

/** A raw peer (sled 9) that completes the handshake, then writes `PrepareAck` frames as fast as the node reads. */
const flooder = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const frame = Result.getOrThrow(
        Frame.encode(Wire.encode(new Wire.Peer({ msg: new PeerMsg({ rackId, kind: new PrepareAck({ epoch: 1 }) }) })))
      )
      const chunk = Buffer.concat(Array.from({ length: 512 }, () => frame))
      const state = { written: 0, blocked: false }
      const socket = net.connect(port, "127.0.0.1")
      socket.on("error", () => undefined)
      socket.resume()
      const pump = () => {
        state.blocked = false
        while (!socket.destroyed && socket.write(chunk)) state.written += chunk.length
        state.blocked = true
      }
      socket.on("drain", pump)
      socket.write(helloFrame(sled(9)), pump)
      return { socket, state }
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** A raw peer (sled 3) that completes the handshake and never answers. */
const silentPeer = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const socket = net.connect(port, "127.0.0.1")
      socket.on("error", () => undefined)
      socket.resume()
      socket.write(helloFrame(sled(3)))
      return socket
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

describe("fair admission", () => {
  it.live("a peer flooding its link does not starve API calls, nor another peer's proxied answers", () =>
    Effect.gen(function* () {
      const { a, b } = yield* startPair
      const flood = yield* flooder(a.listenAddress.port)
      yield* eventually(a.status, (s) => s.connectedPeers.length === 2)
      // The node reads slower than the peer writes: its queue holds all the flood it admits.
      yield* eventually(
        Effect.sync(() => flood.state),
        (s) => s.blocked && s.written > 4 * 1024 * 1024
      )
      const api = yield* Effect.forEach(Array.from({ length: 70 }), () => Effect.result(a.status), {
        concurrency: 8
      })
      assert.deepStrictEqual(
        api.map((r) => (Result.isSuccess(r) ? "ok" : r.failure._tag)),
        Array.from({ length: 70 }, () => "ok")
      )
      const proxied = yield* Effect.forEach(Array.from({ length: 40 }), () => Effect.result(a.proxy.status(b.id)), {
        concurrency: "unbounded"
      })
      assert.strictEqual(proxied.filter(Result.isSuccess).length, 40)
      // The flood went on throughout, over a link that is still up.
      assert.isTrue(flood.state.blocked)
      const peers = (yield* a.status).connectedPeers.map(String)
      assert.deepStrictEqual(peers.sort(), [String(sled(1)), String(sled(9))].sort())
    })
  )

  it.live("a burst of 40 proxied calls is admitted whole: no Busy", () =>
    Effect.gen(function* () {
      const { a, b } = yield* startPair
      const results = yield* Effect.forEach(Array.from({ length: 40 }), () => Effect.result(a.proxy.status(b.id)), {
        concurrency: "unbounded"
      })
      assert.deepStrictEqual(
        results.map((r) => (Result.isSuccess(r) ? "ok" : r.failure._tag)),
        Array.from({ length: 40 }, () => "ok")
      )
    })
  )

  it.live(
    "256 proxied requests are in flight at once; the 257th gets Busy; interrupting them empties the tracker",
    () =>
      Effect.gen(function* () {
        const origin = yield* restartable(0, Transport.insecureTcp, Ledger.memory<PersistentState>())
        yield* silentPeer(origin.node.listenAddress.port)
        yield* eventually(origin.node.status, (s) => s.connectedPeers.length === 1)
        const calls = yield* Effect.forEach(Array.from({ length: 256 }), () =>
          Effect.forkChild(origin.node.proxy.status(sled(3)), { startImmediately: true })
        )
        assert.strictEqual((yield* origin.node.status).proxiedRequests, 256)
        const refused = yield* Effect.flip(origin.node.proxy.status(sled(3)))
        assert.isTrue(refused._tag === "Busy" && refused.limit === 256)
        yield* Fiber.interruptAll(calls)
        assert.strictEqual((yield* origin.node.status).proxiedRequests, 0)
      })
  )
})
