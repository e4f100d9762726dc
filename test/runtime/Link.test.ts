import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Latch, Queue } from "effect"
import { TestClock } from "effect/testing"
import * as Link from "../../src/runtime/Link.ts"
import * as Wire from "../../src/runtime/Wire.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import { GetShare, PeerMsg } from "../../src/types/PeerMsg.ts"

const peer = BaseboardId.make("p", "1")
const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const getShare = (epoch: number) =>
  new Wire.Peer({ msg: new PeerMsg({ rackId, kind: new GetShare({ epoch, proof: new Uint8Array(64) }) }) })

class ConnError {
  readonly reason: string
  readonly message: string
  constructor(reason: string, message: string) {
    this.reason = reason
    this.message = message
  }
}

/** An in-memory connection: tests push inbound payloads (or an end), and may hold writes at a gate. */
const fakeConn = Effect.gen(function* () {
  const inbound = yield* Queue.unbounded<Uint8Array | ConnError>()
  const written: Array<Wire.Frame["_tag"]> = []
  const gate = yield* Latch.make(true)
  let destroyed = false
  const conn: Link.LinkConn = {
    read: Effect.flatMap(Queue.take(inbound), (item) =>
      item instanceof ConnError ? Effect.fail(item) : Effect.succeed(item)
    ),
    write: (payload) =>
      Effect.gen(function* () {
        yield* gate.await
        const decoded = Wire.decode(payload)
        written.push(decoded._tag === "Success" ? decoded.success._tag : "Ping")
      }),
    // Every write goes through the gate, so tests can hold the writer and fill the queue.
    tryWrite: () => false,
    onFrame: () => undefined,
    destroy: Effect.sync(() => {
      destroyed = true
    })
  }
  return { conn, inbound, written, gate, isDestroyed: () => destroyed }
})

/** Starts a link over a fake connection; its events land in `events` in order. */
const start = (options?: Partial<Link.LinkOptions>) =>
  Effect.gen(function* () {
    const fake = yield* fakeConn
    const events = yield* Queue.unbounded<Link.LinkEvent>()
    const { handle, run } = yield* Link.make({
      conn: fake.conn,
      connectionId: 7,
      peer,
      sink: (e) => Queue.offer(events, e).pipe(Effect.asVoid),
      ...(options ? { options } : {})
    })
    const fiber = yield* Effect.forkChild(run, { startImmediately: true })
    const next = Queue.take(events).pipe(Effect.timeout("5 seconds"))
    return { ...fake, events, handle, fiber, next }
  })

describe("Link", () => {
  it.effect("delivers frames in order, then exactly one LinkDown after the peer closes", () =>
    Effect.gen(function* () {
      const link = yield* start()
      yield* Queue.offer(link.inbound, Wire.encode(getShare(1)))
      yield* Queue.offer(link.inbound, Wire.encode(new Wire.Ping({})))
      yield* Queue.offer(link.inbound, Wire.encode(getShare(2)))
      yield* Queue.offer(link.inbound, new ConnError("Eof", "peer closed"))
      const first = yield* link.next
      const second = yield* link.next
      const down = yield* link.next
      assert.deepStrictEqual([first._tag, second._tag, down._tag], ["LinkFrame", "LinkFrame", "LinkDown"])
      assert.isTrue(down._tag === "LinkDown" && down.reason === "Eof" && down.connectionId === 7)
      yield* Fiber.join(link.fiber)
      assert.isTrue(link.isDestroyed())
      assert.strictEqual(yield* Queue.size(link.events), 0)
    })
  )

  it.effect("an undecodable frame closes the link with DecodeError", () =>
    Effect.gen(function* () {
      const link = yield* start()
      yield* Queue.offer(link.inbound, new TextEncoder().encode("{not json"))
      const down = yield* link.next
      assert.isTrue(down._tag === "LinkDown" && down.reason === "DecodeError")
    })
  )

  it.effect("an oversize frame reported by the transport closes the link with FrameTooLarge", () =>
    Effect.gen(function* () {
      const link = yield* start()
      yield* Queue.offer(link.inbound, new ConnError("FrameTooLarge", "announced 2 MiB"))
      const down = yield* link.next
      assert.isTrue(down._tag === "LinkDown" && down.reason === "FrameTooLarge")
    })
  )

  it.effect("sends a ping each second while idle, and closes after 10 s without a frame", () =>
    Effect.gen(function* () {
      const link = yield* start()
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(link.written, ["Ping", "Ping", "Ping"])
      yield* Queue.offer(link.inbound, Wire.encode(new Wire.Ping({})))
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Queue.size(link.events), 0)
      yield* TestClock.adjust("1 second")
      const down = yield* link.next
      assert.isTrue(down._tag === "LinkDown" && down.reason === "Inactivity")
    })
  )

  it.effect("a full write queue closes the link with WriteQueueFull; pings never take a protocol slot", () =>
    Effect.gen(function* () {
      const link = yield* start({ writeQueueCapacity: 2 })
      yield* Latch.close(link.gate)
      // The writer takes the first frame and blocks on the gate; two more fill the queue.
      assert.isTrue(link.handle.offer(getShare(1)))
      yield* Effect.yieldNow
      assert.isTrue(link.handle.offer(getShare(2)))
      assert.isTrue(link.handle.offer(getShare(3)))
      assert.isFalse(link.handle.offer(getShare(4)))
      const down = yield* link.next
      assert.isTrue(down._tag === "LinkDown" && down.reason === "WriteQueueFull")
      assert.isFalse(link.handle.offer(getShare(5)))
    })
  )

  it.effect("close(reason) ends the link with that reason", () =>
    Effect.gen(function* () {
      const link = yield* start()
      yield* link.handle.close("Replaced", "a newer link won")
      const down = yield* link.next
      assert.isTrue(down._tag === "LinkDown" && down.reason === "Replaced" && down.detail === "a newer link won")
    })
  )

  it.effect("a defect in the link's code is reported as LinkDown(Defect)", () =>
    Effect.gen(function* () {
      const events = yield* Queue.unbounded<Link.LinkEvent>()
      const { run } = yield* Link.make({
        conn: {
          read: Effect.die(new Error("bug")),
          write: () => Effect.void,
          tryWrite: () => false,
          onFrame: () => undefined,
          destroy: Effect.void
        },
        connectionId: 9,
        peer,
        sink: (e) => Queue.offer(events, e).pipe(Effect.asVoid)
      })
      yield* run
      const down = yield* Queue.take(events)
      assert.isTrue(down._tag === "LinkDown" && down.reason === "Defect")
    })
  )

  it.effect("interrupting the link fiber reports LinkDown(Interrupted) and destroys the connection", () =>
    Effect.gen(function* () {
      const link = yield* start()
      yield* Fiber.interrupt(link.fiber)
      const down = yield* link.next
      assert.isTrue(down._tag === "LinkDown" && down.reason === "Interrupted")
      assert.isTrue(link.isDestroyed())
    })
  )
})

describe("Link proxy allowance", () => {
  it.effect("proxy frames have their own allowance: a burst beyond the protocol capacity keeps the link up", () =>
    Effect.gen(function* () {
      const link = yield* start({ writeQueueCapacity: 2, proxyCapacity: 8 })
      yield* Latch.close(link.gate)
      const proxyFrame = new Wire.ProxyRequest({ requestId: 1, operation: "Status", payload: {} })
      // The writer takes the first frame and blocks on the gate; eight more fill the proxy allowance.
      assert.isTrue(link.handle.offerProxy(proxyFrame))
      yield* Effect.yieldNow
      for (let i = 0; i < 8; i++) assert.isTrue(link.handle.offerProxy(proxyFrame), `proxy frame ${i}`)
      // Protocol frames still have their own two slots.
      assert.isTrue(link.handle.offer(getShare(1)))
      assert.isTrue(link.handle.offer(getShare(2)))
      assert.strictEqual(yield* Queue.size(link.events), 0)
      // One more proxy frame than the allowance closes the link.
      assert.isFalse(link.handle.offerProxy(proxyFrame))
      const down = yield* link.next
      assert.isTrue(down._tag === "LinkDown" && down.reason === "WriteQueueFull")
    })
  )
})
