/**
 * The proxy at the NodeTask level, with fake links (no network): the tracker's contract, typed
 * errors end to end, and no entry outliving its caller.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Result, Schema, type Scope } from "effect"
import * as fc from "fast-check"
import { Node } from "../../src/protocol/Node.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import type { LinkCloseReason } from "../../src/runtime/Link.ts"
import * as NodeTask from "../../src/runtime/NodeTask.ts"
import * as ProxyOperation from "../../src/runtime/ProxyOperation.ts"
import * as Wire from "../../src/runtime/Wire.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { CommitError, NotPrepared } from "../../src/types/ProtocolError.ts"
import { CommitRequest } from "../../src/types/Request.ts"
import { CommitStatus, NodeStatus } from "../../src/types/Status.ts"
import { fakeLink, linkUp } from "./fakes.ts"
import { authority, rackId, sled } from "./rack.ts"

const destination = sled(3)

type ProxyRequestFrame = Extract<Wire.ProxyFrame, { readonly _tag: "ProxyRequest" }>

/** A fake link to `peer`; `requests` are the proxy requests offered to it. */
const fakeLinkTo = (connectionId: number, peer = destination) => {
  const link = fakeLink(connectionId, peer)
  return {
    ...link,
    get requests(): ReadonlyArray<ProxyRequestFrame> {
      return link.frames.filter((f): f is ProxyRequestFrame => f._tag === "ProxyRequest")
    }
  }
}

const setup = (options?: {
  readonly maxInFlightProxied?: number
}): Effect.Effect<
  {
    readonly task: NodeTask.NodeTaskHandle
    readonly link: ReturnType<typeof fakeLinkTo>
    readonly size: Effect.Effect<number, unknown>
    readonly barrier: Effect.Effect<void, unknown>
    readonly answer: (connectionId: number, frame: Wire.Frame) => Effect.Effect<void>
  },
  never,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const task = yield* NodeTask.make({
      node: new Node({ id: sled(0), authority: authority.publicKey }),
      listenAddress: { host: "127.0.0.1", port: 5000 },
      ledger: Ledger.memory<PersistentState>(),
      ...options
    })
    const link = fakeLinkTo(1)
    yield* task.sink(linkUp(link, "outbound", 4000))
    // API calls and events share one ordered queue: a call observes every event sunk before it. Proxied
    // calls do not wait in it; they see the links the task has applied, so wait for the LinkUp first.
    const barrier = task.call(() => Result.void)
    yield* Effect.orDie(barrier)
    const size = task.call((_, t) => Result.succeed(t.proxiedRequests))
    const answer = (connectionId: number, frame: Wire.Frame) => task.sink({ _tag: "LinkFrame", connectionId, frame })
    return { task, link, size, barrier, answer }
  })

const statusValue = (proxiedRequests: number) =>
  Schema.encodeSync(Schema.toCodecJson(NodeStatus))(
    new NodeStatus({
      connectedPeers: [],
      alarms: [],
      persistentState: { configs: [], shares: [], commits: [], expunged: null },
      proxiedRequests
    })
  )

const committed = Schema.encodeSync(Schema.toCodecJson(CommitStatus))("Committed")

describe("proxy (NodeTask, fake links)", () => {
  it.effect("two concurrent requests answered in reverse order both succeed, and the tracker empties", () =>
    Effect.gen(function* () {
      const { task, link, size, barrier, answer } = yield* setup()
      const commit = yield* Effect.forkChild(
        task.proxy(
          ProxyOperation.Commit,
          destination,
          new CommitRequest({ rackId, epoch: 1, proof: new Uint8Array(64) })
        ),
        { startImmediately: true }
      )
      const status = yield* Effect.forkChild(task.proxy(ProxyOperation.Status, destination, {}), {
        startImmediately: true
      })
      yield* barrier
      assert.strictEqual(yield* size, 2)
      const [first, second] = link.requests
      if (!first || !second) throw new Error("requests not sent")
      assert.deepStrictEqual([first.operation, second.operation], ["Commit", "Status"])
      yield* answer(
        1,
        new Wire.ProxyResponse({ requestId: second.requestId, outcome: "success", value: statusValue(7) })
      )
      yield* answer(1, new Wire.ProxyResponse({ requestId: first.requestId, outcome: "success", value: committed }))
      assert.strictEqual((yield* Fiber.join(status)).proxiedRequests, 7)
      assert.strictEqual(yield* Fiber.join(commit), "Committed")
      assert.strictEqual(yield* size, 0)
    })
  )

  it.effect("the destination's typed error arrives in the caller's error channel", () =>
    Effect.gen(function* () {
      const { task, link, barrier, answer } = yield* setup()
      const call = yield* Effect.forkChild(
        task.proxy(
          ProxyOperation.Commit,
          destination,
          new CommitRequest({ rackId, epoch: 2, proof: new Uint8Array(64) })
        ),
        {
          startImmediately: true
        }
      )
      yield* barrier
      const request = link.requests[0]
      if (!request) throw new Error("not sent")
      const error = Schema.encodeSync(Schema.toCodecJson(CommitError))(new NotPrepared({ epoch: 2 }))
      yield* answer(1, new Wire.ProxyResponse({ requestId: request.requestId, outcome: "failure", value: error }))
      const caught = yield* Fiber.join(call).pipe(
        Effect.catchTag("NotPrepared", (e) => Effect.succeed(`NotPrepared ${e.epoch}`))
      )
      assert.strictEqual(caught, "NotPrepared 2")
    })
  )

  it.effect("a success of the wrong shape becomes InvalidResponse carrying the Schema issue", () =>
    Effect.gen(function* () {
      const { task, link, size, barrier, answer } = yield* setup()
      const call = yield* Effect.forkChild(
        task.proxy(
          ProxyOperation.Commit,
          destination,
          new CommitRequest({ rackId, epoch: 1, proof: new Uint8Array(64) })
        ),
        {
          startImmediately: true
        }
      )
      yield* barrier
      const request = link.requests[0]
      if (!request) throw new Error("not sent")
      yield* answer(
        1,
        new Wire.ProxyResponse({ requestId: request.requestId, outcome: "success", value: statusValue(0) })
      )
      const error = yield* Effect.flip(Fiber.join(call))
      assert.strictEqual(error._tag, "InvalidResponse")
      if (error._tag === "InvalidResponse") assert.match(error.issue, /^Commit success: /)
      assert.strictEqual(yield* size, 0)
    })
  )

  it.effect("closing the link fails both requests with Disconnected naming the link, and empties the tracker", () =>
    Effect.gen(function* () {
      const { task, size, barrier } = yield* setup()
      const a = yield* Effect.forkChild(task.proxy(ProxyOperation.Status, destination, {}), { startImmediately: true })
      const b = yield* Effect.forkChild(task.proxy(ProxyOperation.Status, destination, {}), { startImmediately: true })
      yield* barrier
      yield* task.sink({ _tag: "LinkDown", connectionId: 1, reason: "Reset", detail: "test" })
      for (const f of [a, b]) {
        const error = yield* Effect.flip(Fiber.join(f))
        assert.isTrue(error._tag === "Disconnected" && error.connectionId === 1)
      }
      assert.strictEqual(yield* size, 0)
    })
  )

  it.effect("a destination that is not connected fails with Disconnected at once and is never registered", () =>
    Effect.gen(function* () {
      const { task, size } = yield* setup()
      const error = yield* Effect.flip(task.proxy(ProxyOperation.Status, sled(7), {}))
      assert.isTrue(error._tag === "Disconnected" && error.connectionId === null)
      assert.strictEqual(yield* size, 0)
    })
  )

  it.effect("an answer from a peer other than the destination is ignored; the real one completes the call", () =>
    Effect.gen(function* () {
      const { task, link, size, barrier, answer } = yield* setup()
      const impostor = fakeLinkTo(2, sled(5))
      yield* task.sink(linkUp(impostor, "outbound", 4001))
      const call = yield* Effect.forkChild(task.proxy(ProxyOperation.Status, destination, {}), {
        startImmediately: true
      })
      yield* barrier
      const request = link.requests[0]
      if (!request) throw new Error("not sent")
      yield* answer(
        2,
        new Wire.ProxyResponse({ requestId: request.requestId, outcome: "success", value: statusValue(1) })
      )
      yield* barrier
      assert.strictEqual(yield* size, 1)
      assert.isUndefined(call.pollUnsafe())
      yield* answer(
        1,
        new Wire.ProxyResponse({ requestId: request.requestId, outcome: "success", value: statusValue(2) })
      )
      assert.strictEqual((yield* Fiber.join(call)).proxiedRequests, 2)
    })
  )

  it.effect("interrupting a caller removes its entry; its late answer is dropped", () =>
    Effect.gen(function* () {
      const { task, link, size, barrier, answer } = yield* setup()
      const call = yield* Effect.forkChild(task.proxy(ProxyOperation.Status, destination, {}), {
        startImmediately: true
      })
      yield* barrier
      assert.strictEqual(yield* size, 1)
      yield* Fiber.interrupt(call)
      assert.strictEqual(yield* size, 0)
      const request = link.requests[0]
      if (!request) throw new Error("not sent")
      yield* answer(
        1,
        new Wire.ProxyResponse({ requestId: request.requestId, outcome: "success", value: statusValue(0) })
      )
      assert.strictEqual(yield* size, 0)
    })
  )

  it.effect("beyond maxInFlightProxied the call fails with Busy, without blocking", () =>
    Effect.gen(function* () {
      const { task, barrier } = yield* setup({ maxInFlightProxied: 2 })
      yield* Effect.forkChild(task.proxy(ProxyOperation.Status, destination, {}), { startImmediately: true })
      yield* Effect.forkChild(task.proxy(ProxyOperation.Status, destination, {}), { startImmediately: true })
      yield* barrier
      const error = yield* Effect.flip(task.proxy(ProxyOperation.Status, destination, {}))
      assert.isTrue(error._tag === "Busy" && error.limit === 2)
    })
  )

  it.effect("shutting the node down fails every pending proxied request with NodeStopped", () =>
    Effect.gen(function* () {
      const pending = yield* Deferred.make<Fiber.Fiber<NodeStatus, unknown>>()
      const exit = yield* Effect.scoped(
        Effect.gen(function* () {
          const { task, barrier } = yield* setup()
          const call = yield* Effect.forkDetach(task.proxy(ProxyOperation.Status, destination, {}), {
            startImmediately: true
          })
          yield* barrier
          yield* Deferred.succeed(pending, call)
        })
      ).pipe(
        Effect.andThen(Deferred.await(pending)),
        Effect.flatMap((f) => Fiber.await(f))
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(Effect.suspend(() => exit))
      assert.isTrue(error instanceof Object && "_tag" in error && error._tag === "NodeStopped")
    })
  )
})

describe("proxy under random link deaths and caller interrupts (fast-check)", () => {
  type Step =
    | { readonly _tag: "Call" }
    | { readonly _tag: "Answer"; readonly pick: number }
    | { readonly _tag: "Kill"; readonly reason: LinkCloseReason }
    | { readonly _tag: "Interrupt"; readonly pick: number }
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 4, arbitrary: fc.constant<Step>({ _tag: "Call" }) },
    { weight: 3, arbitrary: fc.nat().map((pick): Step => ({ _tag: "Answer", pick })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<LinkCloseReason>("Reset", "Defect", "Interrupted", "WriteQueueFull", "Inactivity")
        .map((reason): Step => ({ _tag: "Kill", reason }))
    },
    { weight: 1, arbitrary: fc.nat().map((pick): Step => ({ _tag: "Interrupt", pick })) }
  )

  it.effect("every caller ends in success, Disconnected or interruption, and the tracker ends empty", () =>
    Effect.gen(function* () {
      for (const steps of fc.sample(fc.array(step, { minLength: 20, maxLength: 120 }), { seed: 5, numRuns: 60 })) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const { task, size, barrier, answer } = yield* setup()
            let link = fakeLinkTo(1)
            let connectionId = 1
            yield* task.sink(linkUp(link, "outbound", 4000))
            const callers: Array<Fiber.Fiber<NodeStatus, unknown>> = []
            const answered = new Set<number>()
            for (const s of steps) {
              if (s._tag === "Call") {
                callers.push(
                  yield* Effect.forkChild(task.proxy(ProxyOperation.Status, destination, {}), {
                    startImmediately: true
                  })
                )
              } else if (s._tag === "Answer") {
                const open = link.requests.filter((r) => !answered.has(r.requestId))
                const r = open[s.pick % Math.max(1, open.length)]
                if (r !== undefined) {
                  answered.add(r.requestId)
                  yield* answer(
                    connectionId,
                    new Wire.ProxyResponse({ requestId: r.requestId, outcome: "success", value: statusValue(0) })
                  )
                }
              } else if (s._tag === "Kill") {
                yield* task.sink({ _tag: "LinkDown", connectionId, reason: s.reason, detail: "killed" })
                connectionId++
                link = fakeLinkTo(connectionId)
                yield* task.sink(linkUp(link, "outbound", 4000))
              } else {
                const f = callers[s.pick % Math.max(1, callers.length)]
                if (f !== undefined) yield* Fiber.interrupt(f)
              }
              yield* barrier
            }
            yield* task.sink({ _tag: "LinkDown", connectionId, reason: "Reset", detail: "end" })
            for (const f of callers) {
              const exit = yield* Fiber.await(f)
              if (Exit.isFailure(exit)) {
                const reasons = exit.cause.reasons
                const ok = reasons.every(
                  (r) =>
                    r._tag === "Interrupt" ||
                    (r._tag === "Fail" &&
                      typeof r.error === "object" &&
                      r.error !== null &&
                      "_tag" in r.error &&
                      r.error._tag === "Disconnected")
                )
                assert.isTrue(ok, `unexpected end: ${String(exit.cause)}`)
              }
            }
            assert.strictEqual(yield* size, 0)
          })
        )
      }
    })
  )
})
