import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Result } from "effect"
import { Node } from "../../src/protocol/Node.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import type { LinkCloseReason } from "../../src/runtime/Link.ts"
import * as NodeTask from "../../src/runtime/NodeTask.ts"
import * as ProxyOperation from "../../src/runtime/ProxyOperation.ts"
import { Peer } from "../../src/runtime/Wire.ts"
import { newConfiguration } from "../../src/types/Configuration.ts"
import * as Decision from "../../src/types/Decision.ts"
import { PeerMsg, Prepare } from "../../src/types/PeerMsg.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { fakeLink, linkUp } from "./fakes.ts"
import { captureLogs } from "./logs.ts"
import { authority, sled } from "./rack.ts"

const fake = (connectionId: number) => {
  const link = fakeLink(connectionId, sled(1))
  return {
    ...link,
    get sent() {
      return link.frames.map((f) => f._tag)
    }
  }
}
const up = linkUp

const down = (connectionId: number, reason: LinkCloseReason = "Eof") => ({
  _tag: "LinkDown" as const,
  connectionId,
  reason,
  detail: "test"
})

/** A NodeTask for node 0 listening on port 5000 (so it dials peers with lower ports). */
const task = Effect.gen(function* () {
  const node = new Node({ id: sled(0), authority: authority.publicKey })
  const handle = yield* NodeTask.make({
    node,
    listenAddress: { host: "127.0.0.1", port: 5000 },
    ledger: Ledger.memory<PersistentState>()
  })
  // Events and calls share one ordered queue, so a call observes every event sunk before it.
  const peers = handle.call((n) => Result.succeed(n.status().connectedPeers.map(String)))
  return { handle, peers }
})

describe("NodeTask", () => {
  it.effect("a stale LinkDown from a replaced link does not disconnect the peer", () =>
    Effect.gen(function* () {
      const { handle, peers } = yield* task
      const first = fake(1)
      const second = fake(2)
      // Peer 1 listens on 4000 < 5000: this node is the dialer, so both links are outbound and the newer wins.
      yield* handle.sink(up(first, "outbound", 4000))
      yield* handle.sink(up(second, "outbound", 4000))
      assert.deepStrictEqual(yield* peers, [String(sled(1))])
      assert.deepStrictEqual(first.closed, ["Replaced"])
      yield* handle.sink(down(1))
      assert.deepStrictEqual(yield* peers, [String(sled(1))])
      const links = yield* handle.call((_, t) => Result.succeed(t.connections.map((c) => c.connectionId)))
      assert.deepStrictEqual(links, [2])
      yield* handle.sink(down(2))
      assert.deepStrictEqual(yield* peers, [])
    })
  )

  it.effect("a link that follows the dial rule beats a newer one against it", () =>
    Effect.gen(function* () {
      const { handle } = yield* task
      const dialed = fake(1)
      const accepted = fake(2)
      // Peer 1 listens on 4000: only this node (5000) should dial; the accepted link is against the rule.
      yield* handle.sink(up(dialed, "outbound", 4000))
      yield* handle.sink(up(accepted, "inbound", 4000))
      yield* handle.call(() => Result.void)
      assert.deepStrictEqual(accepted.closed, ["Replaced"])
      assert.deepStrictEqual(dialed.closed, [])
    })
  )

  it.effect("a link that died of a defect is reported closed and the node keeps serving", () =>
    Effect.gen(function* () {
      const { handle, peers } = yield* task
      const link = fake(3)
      yield* handle.sink(up(link, "outbound", 4000))
      assert.strictEqual((yield* peers).length, 1)
      yield* handle.sink(down(3, "Defect"))
      assert.deepStrictEqual(yield* peers, [])
      const again = fake(4)
      yield* handle.sink(up(again, "outbound", 4000))
      assert.deepStrictEqual(yield* peers, [String(sled(1))])
    })
  )

  it.effect("frames from a link that is no longer current are ignored", () =>
    Effect.gen(function* () {
      const { handle } = yield* task
      const first = fake(1)
      const second = fake(2)
      yield* handle.sink(up(first, "outbound", 4000))
      yield* handle.sink(up(second, "outbound", 4000))
      // A Prepare on the replaced link would be acknowledged on the current one if it were processed.
      const decided = {
        rackId: "0123e456-789a-4bcd-8f01-23456789abcd",
        epoch: 1,
        lastCommittedEpoch: null,
        members: [sled(0), sled(1), sled(2)],
        threshold: 2,
        coordinator: sled(1)
      }
      const signature = Decision.reconfigureMsg(authority, decided).signature
      const made = newConfiguration({ ...decided, authorization: { lastCommittedEpoch: null, signature } })
      if (Result.isFailure(made)) throw new Error("config")
      const share = made.success.shares.get(sled(0).key)
      if (!share) throw new Error("share")
      const frame = new Peer({
        msg: new PeerMsg({
          rackId: made.success.configuration.rackId,
          kind: new Prepare({ config: made.success.configuration, share })
        })
      })
      yield* handle.sink({ _tag: "LinkFrame", connectionId: 1, frame })
      const afterStale = yield* handle.call((n) => Result.succeed(n.status().persistentState.configs))
      assert.deepStrictEqual(afterStale, [])
      yield* handle.sink({ _tag: "LinkFrame", connectionId: 2, frame })
      const afterCurrent = yield* handle.call((n) => Result.succeed(n.status().persistentState.configs))
      assert.deepStrictEqual(afterCurrent, [1])
      assert.deepStrictEqual(second.sent, ["Peer"])
      assert.deepStrictEqual(first.sent, [])
    })
  )

  it.effect("API admission is bounded: beyond the limit calls fail with Busy at once", () =>
    Effect.gen(function* () {
      const node = new Node({ id: sled(0), authority: authority.publicKey })
      const handle = yield* NodeTask.make({
        node,
        listenAddress: { host: "127.0.0.1", port: 5000 },
        ledger: Ledger.memory<PersistentState>(),
        maxPendingApi: 2
      })
      // Three calls offered before the task fiber runs: the third is refused.
      const calls = yield* Effect.all(
        [0, 1, 2].map(() => Effect.result(handle.call(() => Result.succeed(1)))),
        { concurrency: "unbounded" }
      )
      const tags = calls.map((r) => (Result.isSuccess(r) ? "ok" : r.failure._tag))
      assert.deepStrictEqual(tags.sort(), ["Busy", "ok", "ok"])
    })
  )

  it.effect(
    "a defect in the loop stops the node: NodeStopped with the cause to every caller, links closed, logged",
    () => {
      const logs = captureLogs("Error")
      return Effect.gen(function* () {
        const { handle } = yield* task
        const link = fake(1)
        yield* handle.sink(up(link, "outbound", 4000))
        // Proxied calls see the links the task has applied: wait for the LinkUp.
        yield* handle.call(() => Result.succeed(1))
        // A request forwarded to the peer, waiting for its answer when the task dies.
        const proxied = yield* Effect.forkChild(Effect.flip(handle.proxy(ProxyOperation.Status, sled(1), {})), {
          startImmediately: true
        })
        yield* handle.call(() => Result.succeed(1))
        assert.deepStrictEqual(link.sent, ["ProxyRequest"])
        const boom = handle.call((): Result.Result<number, never> => {
          throw new Error("boom in the core")
        })
        // Offered behind the defect: it must fail too, not wait forever.
        const [first, second] = yield* Effect.all([boom, handle.call(() => Result.succeed(1))].map(Effect.flip), {
          concurrency: "unbounded"
        })
        for (const error of [first, second]) {
          if (error?._tag !== "NodeStopped") return assert.fail(`expected NodeStopped, got ${error?._tag}`)
          assert.strictEqual(error.reason, "a defect in the node task: Error: boom in the core")
        }
        assert.instanceOf(first?._tag === "NodeStopped" ? first.cause : undefined, Error)
        const stopped = yield* handle.stopped
        assert.strictEqual(stopped.reason, "a defect in the node task: Error: boom in the core")
        assert.deepStrictEqual(link.closed, ["Shutdown"])
        const proxyError = yield* Fiber.join(proxied)
        assert.strictEqual(proxyError._tag === "NodeStopped" && proxyError.reason, stopped.reason)
        assert.strictEqual((yield* Effect.flip(handle.call(() => Result.succeed(1))))._tag, "NodeStopped")
        assert.match(yield* logs.line(/^ERROR stopping: a defect in the node task/), /boom in the core/)
      }).pipe(Effect.provide(logs.layer))
    }
  )

  it.effect("stopped completes with the shutdown when the task's scope closes", () =>
    Effect.gen(function* () {
      const stopped = yield* Effect.scoped(Effect.map(task, ({ handle }) => handle.stopped))
      const fiber = yield* Effect.forkChild(stopped)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isSuccess(exit) && exit.value.reason === "shut down")
    })
  )
})
