/**
 * A link: one authenticated connection to a peer, run as a scoped fiber with a reader, a writer and a
 * keep-alive child, and a bounded outbound queue.
 *
 * The link reports to its owner through one ordered `sink`: `LinkFrame` for every decoded frame and,
 * from its finalizer, exactly one `LinkDown` whatever way it ended — peer closed, reset, undecodable or
 * oversize frame, inactivity, a full write queue, a defect in its own code, interruption. Because the
 * closure goes through the same sink after the reader has stopped, it never overtakes the link's last
 * frame. A misbehaving peer closes its own link and nothing else.
 *
 * Two fast paths keep the proxy off the fibers' hops without reordering anything. A frame offered while
 * nothing is queued or being written is written at once (`tryWrite`) instead of waking the writer. And
 * while the link runs it installs a handler on the connection that sees each frame as it is read, when
 * the reader is idle (so nothing read earlier is still on its way): a proxy frame the owner's `fastPath`
 * takes is done there; anything else, and anything it declines, goes to the reader, in order.
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, Option, Queue, Result, Schema } from "effect"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as Wire from "./Wire.ts"

/** Why a link ended. */
export const LinkCloseReason = Schema.Literals([
  "Eof",
  "Reset",
  "DecodeError",
  "FrameTooLarge",
  "Inactivity",
  "WriteQueueFull",
  "WriteFailed",
  "Defect",
  "Interrupted",
  "Replaced",
  "PeerRemoved",
  "Shutdown"
])
export type LinkCloseReason = typeof LinkCloseReason.Type

/** A link ended; `detail` says more (never payload bytes). */
export class LinkClosed extends Schema.TaggedError<LinkClosed>()("LinkClosed", {
  reason: LinkCloseReason,
  detail: Schema.String
}) {
  override get message(): string {
    return `link closed (${this.reason}): ${this.detail}`
  }
}

/** The byte stream a link runs over: `Transport.Conn` satisfies it. `write` must write one whole frame. */
export interface LinkConn {
  readonly read: Effect.Effect<Uint8Array, { readonly reason: string; readonly message: string }>
  readonly write: (payload: Uint8Array) => Effect.Effect<void, { readonly reason: string; readonly message: string }>
  /** Writes one whole frame (a string as its UTF-8) now if that needs no waiting; false (nothing written) otherwise. */
  readonly tryWrite: (payload: Uint8Array | string) => boolean
  /**
   * Installs (or with `undefined` removes) a handler offered each frame as it arrives while a read is waiting
   * and nothing is buffered; a frame it returns true for is consumed, any other is read as usual.
   */
  readonly onFrame: (handler: ((payload: Uint8Array) => boolean) | undefined) => void
  readonly destroy: Effect.Effect<void>
}

/** The owner's handle on a running link. */
export interface LinkHandle {
  readonly connectionId: number
  readonly peer: BaseboardId
  /**
   * Sends a protocol frame without waiting: written at once when nothing is queued or being written, queued
   * otherwise. False if the queue is full (the link then closes with `WriteQueueFull`) or the link is closing.
   */
  readonly offer: (frame: Wire.Frame) => boolean
  /**
   * Sends a proxy request or answer, like `offer`. Proxy frames have their own allowance (`proxyCapacity`, the
   * tracker's bound), so a burst of forwarded requests never pushes protocol frames out or closes the link.
   */
  readonly offerProxy: (frame: Wire.ProxyFrame) => boolean
  /** Closes the link with `reason`; its `LinkDown` still arrives through the sink. */
  readonly close: (reason: LinkCloseReason, detail: string) => Effect.Effect<void>
}

/** What a link tells its owner, in order. */
export type LinkEvent =
  | { readonly _tag: "LinkFrame"; readonly connectionId: number; readonly frame: Wire.Frame }
  | {
      readonly _tag: "LinkDown"
      readonly connectionId: number
      readonly reason: LinkCloseReason
      readonly detail: string
    }

/** Timing and bounds of a link. */
export interface LinkOptions {
  /** How often a keep-alive is sent when nothing else is queued (default 1 s). */
  readonly pingInterval: Duration.Input
  /** A link that receives no complete frame for this long is closed (default 10 s). */
  readonly inactivityTimeout: Duration.Input
  /** Protocol frames waiting to be written; one more closes the link (default 32). */
  readonly writeQueueCapacity: number
  /** Proxy frames waiting to be written; the proxy tracker's bound keeps traffic below it (default 256). */
  readonly proxyCapacity: number
}

/** The owner's fast path for proxy frames (`NodeTask.fastPath`): true if it took the frame. */
export type FastPath = (connectionId: number, frame: Wire.ProxyFrame) => boolean

export const defaultLinkOptions: LinkOptions = {
  pingInterval: Duration.seconds(1),
  inactivityTimeout: Duration.seconds(10),
  writeQueueCapacity: 32,
  proxyCapacity: 256
}

const transportReason = (reason: string): LinkCloseReason =>
  reason === "Eof" || reason === "Reset" || reason === "FrameTooLarge" ? reason : "Reset"

const pingBytes = Wire.encode(new Wire.Ping({}))

/**
 * Makes a link over `conn` and returns its handle together with the effect that runs it. Running the
 * effect reads, writes and keeps the link alive until it ends; it never fails, and its finalizer sends
 * `LinkDown` to the sink and destroys the connection.
 */
export const make = (args: {
  readonly conn: LinkConn
  readonly connectionId: number
  readonly peer: BaseboardId
  readonly sink: (event: LinkEvent) => Effect.Effect<void>
  /** Proxy frames go here first, where they are read (default: none taken). */
  readonly fastPath?: FastPath
  readonly options?: Partial<LinkOptions>
}): Effect.Effect<{ readonly handle: LinkHandle; readonly run: Effect.Effect<void> }> =>
  Effect.gen(function* () {
    const options = { ...defaultLinkOptions, ...args.options }
    const capacity = options.writeQueueCapacity
    const proxyCapacity = options.proxyCapacity
    // Protocol and proxy frames are counted apart; one slot more for a ping, queued only when nothing else is.
    const outbound = yield* Queue.bounded<{ readonly bytes: Uint8Array; readonly proxy: boolean }>(
      capacity + proxyCapacity + 1
    )
    let protocolQueued = 0
    let proxyQueued = 0
    let pingQueued = 0
    /** The writer holds a frame it has not finished writing. */
    let writing = false
    /** Nothing queued or being written: a frame written now cannot overtake an earlier one. */
    const idle = () => !writing && protocolQueued + proxyQueued + pingQueued === 0
    const closing = Deferred.makeUnsafe<never, LinkClosed>()
    const requestClose = (reason: LinkCloseReason, detail: string): void => {
      Deferred.doneUnsafe(closing, Exit.fail(new LinkClosed({ reason, detail })))
    }
    const clock = yield* Clock.Clock
    let lastReceived = clock.currentTimeMillisUnsafe()
    const { connectionId, conn, sink } = args
    const fastPath = args.fastPath ?? (() => false)

    /** Queues a frame for the writer; a full allowance closes the link. */
    const enqueue = (bytes: Uint8Array, proxy: boolean): boolean => {
      const full = proxy ? proxyQueued >= proxyCapacity : protocolQueued >= capacity
      if (full || !Queue.offerUnsafe(outbound, { bytes, proxy })) {
        const limit = proxy ? `${proxyCapacity} proxy` : `${capacity} protocol`
        requestClose("WriteQueueFull", `more than ${limit} frames waiting to be written`)
        return false
      }
      if (proxy) proxyQueued++
      else protocolQueued++
      return true
    }

    const proxyEncoder = new Wire.ProxyEncoder()
    const handle: LinkHandle = {
      connectionId,
      peer: args.peer,
      offer: (frame) => {
        if (Deferred.isDoneUnsafe(closing)) return false
        const bytes = Wire.encode(frame)
        return (idle() && conn.tryWrite(bytes)) || enqueue(bytes, false)
      },
      offerProxy: (frame) => {
        if (Deferred.isDoneUnsafe(closing)) return false
        const text = proxyEncoder.text(frame)
        return (idle() && conn.tryWrite(text)) || enqueue(Wire.utf8(text), true)
      },
      close: (reason, detail) => Effect.sync(() => requestClose(reason, detail))
    }

    const proxyDecoder = new Wire.ProxyDecoder()
    /** Runs where the connection reads a frame, while the reader is idle. */
    const onFrame = (payload: Uint8Array): boolean => {
      if (Deferred.isDoneUnsafe(closing)) return false
      const frame = proxyDecoder.decode(payload)
      if (frame === undefined || !fastPath(connectionId, frame)) return false
      lastReceived = clock.currentTimeMillisUnsafe()
      return true
    }

    const reader = Effect.gen(function* () {
      while (true) {
        const payload = yield* Effect.mapError(
          conn.read,
          (e) => new LinkClosed({ reason: transportReason(e.reason), detail: e.message })
        )
        lastReceived = clock.currentTimeMillisUnsafe()
        const decoded = Wire.decode(payload)
        if (Result.isFailure(decoded)) {
          return yield* new LinkClosed({ reason: "DecodeError", detail: decoded.failure.issue })
        }
        if (decoded.success._tag !== "Ping") yield* sink({ _tag: "LinkFrame", connectionId, frame: decoded.success })
      }
    })

    const writer = Effect.gen(function* () {
      while (true) {
        const item = yield* Queue.take(outbound)
        writing = true
        if (item.proxy) proxyQueued--
        else if (item.bytes === pingBytes) pingQueued--
        else protocolQueued--
        yield* Effect.mapError(
          conn.write(item.bytes),
          (e) => new LinkClosed({ reason: "WriteFailed", detail: e.message })
        )
        writing = false
      }
    })

    const inactivityMillis = Duration.toMillis(Duration.fromInputUnsafe(options.inactivityTimeout))
    const keepAlive = Effect.gen(function* () {
      while (true) {
        yield* Effect.sleep(options.pingInterval)
        const now = yield* Clock.currentTimeMillis
        if (now - lastReceived > inactivityMillis) {
          return yield* new LinkClosed({ reason: "Inactivity", detail: `no frame for ${now - lastReceived} ms` })
        }
        if (idle() && !conn.tryWrite(pingBytes)) {
          pingQueued++
          Queue.offerUnsafe(outbound, { bytes: pingBytes, proxy: false })
        }
      }
    })

    const reasonOf = (exit: Exit.Exit<unknown, LinkClosed>): { reason: LinkCloseReason; detail: string } => {
      if (Exit.isSuccess(exit)) return { reason: "Eof", detail: "link ended" }
      const failure = Cause.findErrorOption(exit.cause)
      if (Option.isSome(failure)) return { reason: failure.value.reason, detail: failure.value.detail }
      if (Cause.hasDies(exit.cause)) return { reason: "Defect", detail: "a defect in the link's code" }
      return { reason: "Interrupted", detail: "the link fiber was interrupted" }
    }

    // The four loops only ever end by failing; the first failure names the reason and interrupts the rest.
    // The frame handler lives exactly as long as they do: removed before the link reports its closure.
    const run = Effect.acquireUseRelease(
      Effect.sync(() => conn.onFrame(onFrame)),
      () =>
        Effect.all([reader, writer, keepAlive, Deferred.await(closing)], { concurrency: "unbounded", discard: true }),
      () => Effect.sync(() => conn.onFrame(undefined))
    ).pipe(
      Effect.onExit((exit) =>
        Effect.gen(function* () {
          const { reason, detail } = reasonOf(exit)
          requestClose(reason, detail)
          yield* conn.destroy
          yield* Queue.shutdown(outbound)
          yield* sink({ _tag: "LinkDown", connectionId, reason, detail })
        })
      ),
      Effect.exit,
      Effect.asVoid
    )
    return { handle, run }
  })
