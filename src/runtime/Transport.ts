/**
 * Transports: how a node listens for and dials its peers, and the framed connections they yield. This
 * layer moves opaque frame payloads between endpoints; the wire protocol and its `Hello` live above it.
 *
 * Contract. `listen(address)` binds (port 0 picks a free port; `Listener.address` is the bound one) and
 * `accept` yields connections in arrival order. The listener owns what it accepted: closing its scope
 * destroys every accepted connection still open and fails `accept` with `ListenerClosed`. `dial(address)`
 * yields a connection owned by the caller's scope (destroyed when it closes). A `Conn`:
 * - `read` yields the next whole frame payload; once the connection ends it fails with a `LinkError`
 *   (`Eof` peer closed, `Reset` socket error, `FrameTooLarge` the peer announced an oversize frame,
 *   `Closed` this side destroyed it); frames that arrived before a peer's close are still read first.
 * - `write` frames a payload and hands it to the transport, suspending while the socket is over its
 *   high-water mark (backpressure); success means handed over, not delivered. A payload over
 *   `Frame.maxPayloadBytes` is refused with `FrameTooLarge` and the connection stays usable. Payloads
 *   are not copied on every path: do not mutate one after writing it.
 * - `tryWrite` writes a frame now when `write` would not wait (nothing waiting for the socket to drain,
 *   under its high-water mark, not ended, within the size limit) and says whether it did. A string payload
 *   is written as its UTF-8 bytes (on sockets, encoded straight into the write batch).
 * - `onFrame` installs a handler that is offered each frame as it arrives, in order, but only while a read
 *   is waiting and nothing is buffered — so a frame it consumes overtakes nothing; every other frame is
 *   buffered for `read` as usual. The handler runs inside the transport's own callback and must not throw.
 * - `destroy` is a hard close (never a graceful end: a graceful close made peers hang elsewhere); it is
 *   idempotent, and pending and later reads and writes fail.
 * - One reader at a time is the intended use (concurrent reads are served in order); concurrent
 *   writers are fine, each frame is written whole.
 *
 * `insecureTcp` is plain TCP, with no authentication at all — a peer is whoever its `Hello` claims, so
 * use it only for tests and benchmarks on a trusted host (the name is the opt-in; a node running on it
 * logs a warning at start); `tls` is mutual TLS 1.3 under a rack CA, where a peer's identity is read from its
 * verified certificate (`RackPki.identityOf`); `memory` is an in-process network for deterministic tests.
 *
 * Pre-authentication is bounded (`ListenOptions`): a socket listener admits a new connection only while
 * fewer than `gate.limit` connections are unauthenticated — still in the TLS handshake here, or still
 * exchanging `Hello`s above — and closes the excess at once; a TLS handshake must finish within
 * `handshakeTimeout`. Refusals go to a rate-limited log, so a flood costs a few log lines per interval.
 */
import * as net from "node:net"
import * as nodeTls from "node:tls"
import { Duration, Effect, Option, Queue, Result, Schema, type Scope } from "effect"
import * as Frame from "./Frame.ts"
import * as RackPki from "./RackPki.ts"
import * as RateLimitedLog from "./RateLimitedLog.ts"

// ---- contract -----------------------------------------------------------------------------------------

/** A host and port. */
export interface Address {
  readonly host: string
  readonly port: number
}

/** `host:port`, with IPv6 hosts in brackets. */
export const formatAddress = (a: Address): string =>
  a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`

/** Why a connection's read or write failed. */
export const LinkErrorReason = Schema.Literals(["Eof", "Reset", "FrameTooLarge", "Closed"])
export type LinkErrorReason = typeof LinkErrorReason.Type

/** A connection ended (or refused an oversize payload); `detail` never contains payload bytes. */
export class LinkError extends Schema.TaggedError<LinkError>()("LinkError", {
  reason: LinkErrorReason,
  connectionId: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    const id = this.connectionId
    const messages: Record<LinkErrorReason, string> = {
      Eof: `connection ${id} was closed by the peer (${this.detail}); dial again if it is still wanted`,
      Reset: `connection ${id} failed: ${this.detail}; dial again if the peer is still wanted`,
      FrameTooLarge: `connection ${id}: ${this.detail}`,
      Closed: `connection ${id} was closed by this side (${this.detail})`
    }
    return messages[this.reason]
  }
}

/** Listening or dialling failed, or TLS refused a peer. */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  reason: Schema.Literals(["ListenFailed", "DialFailed", "TlsRefused", "ListenerClosed"]),
  address: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    const messages: Record<TransportError["reason"], string> = {
      ListenFailed: `cannot listen on ${this.address}: ${this.detail}; choose another address or port`,
      DialFailed: `cannot connect to ${this.address}: ${this.detail}; the peer may be down, retry later`,
      TlsRefused: `TLS refused the connection with ${this.address}: ${this.detail}; both nodes need certificates from the same rack CA that bind their identities`,
      ListenerClosed: `the listener on ${this.address} is closed`
    }
    return messages[this.reason]
  }
}

/** One framed connection. */
export interface Conn {
  /** Fresh and unique within the process: a link is never confused with an earlier one. */
  readonly id: number
  readonly direction: "inbound" | "outbound"
  readonly localAddress: string
  readonly remoteAddress: string
  /** The identity in the peer's verified certificate (`tls`); none for `tcp` and `memory`. */
  readonly peerIdentity: Option.Option<string>
  readonly read: Effect.Effect<Uint8Array, LinkError>
  readonly write: (payload: Uint8Array) => Effect.Effect<void, LinkError>
  readonly tryWrite: (payload: Uint8Array | string) => boolean
  readonly onFrame: (handler: FrameHandler | undefined) => void
  readonly destroy: Effect.Effect<void>
}

/** Offered a frame as it arrives; true if it consumed it. */
export type FrameHandler = (payload: Uint8Array) => boolean

/** A bound listener. Refused peers (TLS) are logged and never reach `accept`. */
export interface Listener {
  readonly address: Address
  readonly accept: Effect.Effect<Conn, TransportError>
}

/**
 * The connections a listener's owner has accepted and not yet authenticated, counted across both stages
 * (the transport's TLS handshake, the owner's `Hello`): a new connection is admitted only below `limit`.
 */
export class PreAuthGate {
  readonly limit: number
  #pending = 0
  constructor(limit: number) {
    this.limit = limit
  }
  get pending(): number {
    return this.#pending
  }
  /** Takes a slot if one is free. */
  tryEnter(): boolean {
    if (this.#pending >= this.limit) return false
    this.#pending++
    return true
  }
  /** Takes a slot for a connection already admitted (its next stage); the count may pass `limit` briefly. */
  enter(): void {
    this.#pending++
  }
  leave(): void {
    this.#pending--
  }
}

/** Bounds of a listener's unauthenticated connections. */
export interface ListenOptions {
  /** Shared with the listener's owner (default: a gate of 64 of the listener's own). */
  readonly gate?: PreAuthGate
  /** Time a TLS client has to finish its handshake (default 5 s). */
  readonly handshakeTimeout?: Duration.Input
  /** Where refusals are recorded (default: a rate-limited log of the listener's own). */
  readonly refusals?: RateLimitedLog.RateLimitedLog
}

/** Connections admitted at once before authentication when no gate is given. */
export const defaultMaxUnauthenticated = 64
/** The default deadline of a TLS handshake (Node's own default is 120 s). */
export const defaultHandshakeTimeout = Duration.seconds(5)

/** A transport: `listen` and `dial`, both scoped. */
export interface Transport {
  readonly name: "tcp" | "tls" | "memory"
  readonly listen: (address: Address, options?: ListenOptions) => Effect.Effect<Listener, TransportError, Scope.Scope>
  readonly dial: (address: Address) => Effect.Effect<Conn, TransportError, Scope.Scope>
}

let lastConnId = 0
/** A process-unique connection id. */
export const freshConnId = (): number => ++lastConnId

/** Accepted connections waiting for `accept`; a flood beyond this is refused rather than buffered. */
const backlogLimit = 128
/** A dial that has not connected (and, for TLS, been accepted) within this fails with `DialFailed`. */
export const connectTimeout = Duration.seconds(10)

// ---- inbound frames -----------------------------------------------------------------------------------

type Resume<A> = (effect: Effect.Effect<A, LinkError>) => void

const removeFrom = <A>(items: Array<A>, item: A): void => {
  const i = items.indexOf(item)
  if (i >= 0) items.splice(i, 1)
}

/** What a queued frame counts against the read bound: its bytes plus bookkeeping, so empty frames count. */
const frameCost = (frame: Uint8Array) => frame.length + 32
const emptyFrame = new Uint8Array(0)

/** Frames received and not yet read, the reads waiting for one, and how the connection ended. */
class Inbox {
  #frames: Array<Uint8Array | undefined> = []
  #head = 0
  #cost = 0
  #readers: Array<Resume<Uint8Array>> = []
  #error: LinkError | undefined = undefined
  readonly #onTake: () => void
  /** See `Conn.onFrame`. */
  handler: FrameHandler | undefined = undefined

  constructor(onTake: () => void) {
    this.#onTake = onTake
  }

  get size(): number {
    return this.#frames.length - this.#head
  }
  get cost(): number {
    return this.#cost
  }

  deliver(frame: Uint8Array): void {
    if (this.#error !== undefined) return
    // A waiting reader means nothing is buffered and the reader is done with every earlier frame.
    if (this.#readers.length > 0 && this.handler !== undefined && this.handler(frame)) return
    const reader = this.#readers.shift()
    if (reader !== undefined) {
      reader(Effect.succeed(frame))
      return
    }
    this.#frames.push(frame)
    this.#cost += frameCost(frame)
  }

  /** Ends the inbox: reads get what is buffered (unless `discard`), then fail with the first error. */
  fail(error: LinkError, discard: boolean): void {
    this.#error ??= error
    if (discard) {
      this.#frames = []
      this.#head = 0
      this.#cost = 0
    }
    // Readers only wait on an empty inbox, so every one of them fails now.
    const failure = Effect.fail(this.#error)
    for (const reader of this.#readers.splice(0)) reader(failure)
  }

  #take(): Uint8Array {
    const frame = this.#frames[this.#head] ?? emptyFrame
    this.#frames[this.#head] = undefined
    this.#head++
    if (this.#head === this.#frames.length) {
      this.#frames.length = 0
      this.#head = 0
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#frames.length) {
      // A reader that always lags by a few frames would otherwise grow the array forever.
      this.#frames.splice(0, this.#head)
      this.#head = 0
    }
    this.#cost -= frameCost(frame)
    this.#onTake()
    return frame
  }

  readonly #wait: Effect.Effect<Uint8Array, LinkError> = Effect.callback<Uint8Array, LinkError>((resume) => {
    if (this.size > 0) return resume(Effect.succeed(this.#take()))
    if (this.#error !== undefined) return resume(Effect.fail(this.#error))
    this.#readers.push(resume)
    return Effect.sync(() => removeFrom(this.#readers, resume))
  })

  readonly read: Effect.Effect<Uint8Array, LinkError> = Effect.suspend(() => {
    if (this.size > 0) return Effect.succeed(this.#take())
    if (this.#error !== undefined) return Effect.fail(this.#error)
    return this.#wait
  })
}

// ---- sockets (tcp and tls) -----------------------------------------------------------------------------

/** Reading pauses while this many bytes of frames wait to be read, and resumes below half of it. */
const readHighWater = Frame.maxFrameBytes
const textEncoder = new TextEncoder()
/** Small frames are copied into shared write batches of this size; larger ones are written as they are. */
const batchBytes = 64 * 1024
const copyLimit = 16 * 1024

const describe = (e: Error): string =>
  "code" in e && typeof e.code === "string" ? `${e.code}: ${e.message}` : e.message

const socketAddress = (host: string | undefined, port: number | undefined) =>
  formatAddress({ host: host ?? "?", port: port ?? 0 })

const ignoreErrors = () => {}

interface SocketConn {
  readonly conn: Conn
  /** Destroys the connection now, from a Node callback. */
  readonly kill: (detail: string) => void
}

/**
 * Wraps a connected socket as a framed `Conn`. Writes made in the same turn of the scheduler are
 * combined into one socket write (flushed on a microtask), which is what makes many small frames in
 * flight cheap; a frame is never split across flushes in a way that reorders it.
 */
const socketConn = (
  socket: net.Socket,
  direction: "inbound" | "outbound",
  peerIdentity: Option.Option<string>
): SocketConn => {
  const id = freshConnId()
  const linkError = (reason: LinkErrorReason, detail: string) => new LinkError({ reason, connectionId: id, detail })
  const localAddress = socketAddress(socket.localAddress, socket.localPort)
  const remoteAddress = socketAddress(socket.remoteAddress, socket.remotePort)
  const decoder = new Frame.Decoder()
  let paused = false
  const inbox: Inbox = new Inbox(() => {
    if (paused && inbox.cost < readHighWater / 2) {
      paused = false
      socket.resume()
    }
  })
  let ended: LinkError | undefined
  const drainWaiters: Array<() => void> = []

  const end = (error: LinkError, discard: boolean) => {
    ended ??= error
    inbox.fail(error, discard)
    for (const waiter of drainWaiters.splice(0)) waiter()
  }

  socket.setNoDelay(true)
  socket.on("data", (chunk: Buffer) => {
    const decoded = decoder.push(chunk)
    if (Result.isFailure(decoded)) {
      end(
        linkError(
          "FrameTooLarge",
          `the peer announced a frame of ${decoded.failure.length} bytes, over the limit of ${Frame.maxPayloadBytes}; the connection was closed`
        ),
        false
      )
      socket.destroy()
      return
    }
    for (const frame of decoded.success) inbox.deliver(frame)
    if (!paused && inbox.cost >= readHighWater) {
      paused = true
      socket.pause()
    }
  })
  socket.on("end", () => end(linkError("Eof", "the peer closed the connection"), false))
  socket.on("error", (e) => end(linkError("Reset", describe(e)), false))
  socket.on("close", () => end(linkError("Eof", "the connection closed"), false))
  socket.on("drain", () => {
    while (drainWaiters.length > 0 && !socket.writableNeedDrain) drainWaiters.shift()?.()
  })

  let batch = Buffer.allocUnsafe(batchBytes)
  let start = 0
  let fill = 0
  const flush = () => {
    if (fill === start) return
    const out = batch.subarray(start, fill)
    start = fill
    if (!socket.destroyed) socket.write(out)
  }
  /** Makes room for `n` (≤ batchBytes) bytes; a handed-over region of the batch is never written again. */
  const reserve = (n: number) => {
    if (batch.length - fill >= n) return
    flush()
    batch = Buffer.allocUnsafe(batchBytes)
    start = 0
    fill = 0
  }
  const append = (payload: Uint8Array) => {
    const pending = fill > start
    if (payload.length <= copyLimit) {
      reserve(Frame.headerBytes + payload.length)
      Frame.writeHeader(batch, fill, payload.length)
      batch.set(payload, fill + Frame.headerBytes)
      fill += Frame.headerBytes + payload.length
      if (!pending) queueMicrotask(flush)
    } else {
      reserve(Frame.headerBytes)
      Frame.writeHeader(batch, fill, payload.length)
      fill += Frame.headerBytes
      flush()
      if (!socket.destroyed) socket.write(payload)
    }
  }

  const waitForDrain = (payload: Uint8Array) =>
    Effect.callback<void, LinkError>((resume) => {
      const waiter = () => {
        if (ended !== undefined) return resume(Effect.fail(ended))
        append(payload)
        resume(Effect.void)
      }
      drainWaiters.push(waiter)
      return Effect.sync(() => removeFrom(drainWaiters, waiter))
    })

  const canWriteNow = () => ended === undefined && drainWaiters.length === 0 && !socket.writableNeedDrain

  const tryWrite = (payload: Uint8Array | string): boolean => {
    if (!canWriteNow()) return false
    if (typeof payload === "string") {
      if (payload.length * 3 > copyLimit) return tryWrite(textEncoder.encode(payload))
      // Encoded straight into the batch: UTF-8 takes at most 3 bytes per UTF-16 unit.
      const pending = fill > start
      reserve(Frame.headerBytes + payload.length * 3)
      const length = batch.write(payload, fill + Frame.headerBytes)
      Frame.writeHeader(batch, fill, length)
      fill += Frame.headerBytes + length
      if (!pending) queueMicrotask(flush)
      return true
    }
    if (payload.length > Frame.maxPayloadBytes) return false
    append(payload)
    return true
  }

  const write = (payload: Uint8Array): Effect.Effect<void, LinkError> =>
    Effect.suspend(() => {
      if (payload.length > Frame.maxPayloadBytes) {
        return Effect.fail(
          linkError(
            "FrameTooLarge",
            `refused to send a payload of ${payload.length} bytes, over the limit of ${Frame.maxPayloadBytes}; the connection is still usable`
          )
        )
      }
      if (ended !== undefined) return Effect.fail(ended)
      if (drainWaiters.length > 0 || socket.writableNeedDrain) return waitForDrain(payload)
      append(payload)
      return Effect.void
    })

  const kill = (detail: string) => {
    // Frames already written are handed to the socket first; then the close is immediate.
    flush()
    end(linkError("Closed", detail), true)
    socket.destroy()
  }

  return {
    conn: {
      id,
      direction,
      localAddress,
      remoteAddress,
      peerIdentity,
      read: inbox.read,
      write,
      tryWrite,
      onFrame: (handler) => {
        inbox.handler = handler
      },
      destroy: Effect.sync(() => kill("destroyed"))
    },
    kill
  }
}

/** What a server does with a new socket: admit it (with the peer's identity, if any) or refuse it. */
type Admit = (socket: net.Socket) => Result.Result<Option.Option<string>, string>

/** Runs `server` on `address` in the current scope and turns its sockets into a `Listener`. */
const serve = (args: {
  readonly transport: "tcp" | "tls"
  readonly address: Address
  readonly server: net.Server
  readonly event: "connection" | "secureConnection"
  readonly admit: Admit
  readonly options: ListenOptions | undefined
}): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const { server, address } = args
    const backlog = yield* Queue.bounded<Conn, TransportError>(backlogLimit)
    const gate = args.options?.gate ?? new PreAuthGate(defaultMaxUnauthenticated)
    const refusals = args.options?.refusals ?? (yield* RateLimitedLog.make({ subject: "peer connections refused" }))
    const open = new Set<SocketConn>()
    const record = (reason: TransportError["reason"] | "Unauthenticated", remote: string, detail: string) =>
      refusals.record(
        reason,
        reason === "Unauthenticated"
          ? `refused a connection at once: ${detail}`
          : new TransportError({ reason, address: remote, detail }).message,
        { transport: args.transport, remote, reason }
      )
    const refuse = (socket: net.Socket, detail: string) => {
      record("TlsRefused", socketAddress(socket.remoteAddress, socket.remotePort), detail)
      socket.on("error", ignoreErrors)
      socket.destroy()
    }
    /** Releases of the TLS-stage slots, by remote address (unique among a listener's open connections). */
    const handshaking = new Map<string, () => void>()
    server.on("connection", (raw: net.Socket) => {
      const remote = socketAddress(raw.remoteAddress, raw.remotePort)
      if (!gate.tryEnter()) {
        record("Unauthenticated", remote, `${gate.limit} connections are already unauthenticated`)
        raw.on("error", ignoreErrors)
        raw.destroy()
        return
      }
      // TCP is authenticated above this layer: its slot passes to the owner with the connection.
      if (args.event === "connection") return gate.leave()
      let held = true
      const release = () => {
        if (!held) return
        held = false
        handshaking.delete(remote)
        gate.leave()
      }
      handshaking.set(remote, release)
      raw.once("close", release)
    })
    server.on(args.event, (socket: net.Socket) => {
      // A TCP connection the gate just refused (the same event) is already destroyed.
      if (socket.destroyed) return
      handshaking.get(socketAddress(socket.remoteAddress, socket.remotePort))?.()
      const admitted = args.admit(socket)
      if (Result.isFailure(admitted)) return refuse(socket, admitted.failure)
      const accepted = socketConn(socket, "inbound", admitted.success)
      if (!Queue.offerUnsafe(backlog, accepted.conn)) {
        return accepted.kill(`refused: more than ${backlogLimit} connections wait to be accepted`)
      }
      open.add(accepted)
      socket.once("close", () => open.delete(accepted))
    })
    server.on("tlsClientError", (e: Error, socket: net.Socket) => refuse(socket, describe(e)))

    yield* Effect.acquireRelease(
      Effect.callback<void, TransportError>((resume) => {
        const failed = (e: Error) =>
          resume(
            Effect.fail(
              new TransportError({ reason: "ListenFailed", address: formatAddress(address), detail: describe(e) })
            )
          )
        server.once("error", failed)
        server.listen(address.port, address.host, () => {
          server.off("error", failed)
          // Errors after binding (e.g. EMFILE on accept) must not crash the process: log them.
          server.on("error", (e) => record("ListenFailed", formatAddress(address), describe(e)))
          resume(Effect.void)
        })
        return Effect.sync(() => server.close())
      }),
      () =>
        Effect.gen(function* () {
          server.close()
          for (const accepted of Array.from(open)) accepted.kill("the listener closed")
          yield* Effect.ignore(Queue.clear(backlog))
          yield* Queue.fail(
            backlog,
            new TransportError({ reason: "ListenerClosed", address: formatAddress(address), detail: "closed" })
          )
        }),
      { interruptible: true }
    )
    const info = server.address()
    const bound = { host: address.host, port: typeof info === "object" && info !== null ? info.port : address.port }
    return { address: bound, accept: Queue.take(backlog) }
  })

/**
 * Dials with `connect` and waits for `ready`: `"connect"` for TCP; `"session"` for TLS — a TLS 1.3 server
 * sends its session tickets only after it has verified the client's certificate, so waiting for the
 * first ticket means the server accepted this client, and a refused client learns it here as
 * `TlsRefused` instead of on its first read.
 */
const dialSocket = (args: {
  readonly transport: "tcp" | "tls"
  readonly address: Address
  readonly connect: () => net.Socket
  readonly ready: "connect" | "session"
  readonly admit: Admit
}): Effect.Effect<Conn, TransportError, Scope.Scope> => {
  const address = formatAddress(args.address)
  return Effect.acquireRelease(
    Effect.callback<SocketConn, TransportError>((resume) => {
      const socket = args.connect()
      let tcpUp = false
      let settled = false
      const settle = () => {
        settled = true
        socket.off("connect", onConnect)
        socket.off("session", onSession)
        socket.off("error", onError)
        socket.off("close", onClose)
      }
      const fail = (reason: "TlsRefused" | "DialFailed", detail: string) => {
        if (settled) return
        settle()
        socket.on("error", ignoreErrors)
        socket.destroy()
        resume(Effect.fail(new TransportError({ reason, address, detail })))
      }
      const onReady = () => {
        if (settled) return
        const admitted = args.admit(socket)
        if (Result.isFailure(admitted)) return fail("TlsRefused", admitted.failure)
        settle()
        resume(Effect.succeed(socketConn(socket, "outbound", admitted.success)))
      }
      const onConnect = () => {
        tcpUp = true
        if (args.ready === "connect") onReady()
      }
      // Node emits "session" from inside OpenSSL's read path, where a write made by the resumed fiber was
      // silently lost (observed on Node 24): continue from a fresh turn of the event loop instead.
      const onSession = () => setImmediate(onReady)
      const onError = (e: Error) => fail(tcpUp ? "TlsRefused" : "DialFailed", describe(e))
      const onClose = () => fail(tcpUp ? "TlsRefused" : "DialFailed", "the peer closed the connection while connecting")
      socket.once("connect", onConnect)
      if (args.ready === "session") socket.once("session", onSession)
      socket.once("error", onError)
      socket.once("close", onClose)
      return Effect.sync(() => {
        if (settled) return
        settle()
        socket.on("error", ignoreErrors)
        socket.destroy()
      })
    }),
    (dialed) => dialed.conn.destroy,
    { interruptible: true }
  ).pipe(
    Effect.map((dialed) => dialed.conn),
    Effect.timeoutOrElse({
      duration: connectTimeout,
      orElse: () =>
        Effect.fail(
          new TransportError({
            reason: "DialFailed",
            address,
            detail: `not connected within ${Duration.format(connectTimeout)}`
          })
        )
    }),
    Effect.tapError((e) =>
      e.reason === "TlsRefused"
        ? Effect.logWarning(e.message).pipe(Effect.annotateLogs({ transport: args.transport, remote: address }))
        : Effect.void
    )
  )
}

const noIdentity: Admit = () => Result.succeed(Option.none())

/**
 * Plain TCP, no authentication: any process that can connect may claim any identity and receive what
 * that identity is owed. Insecure by name, so no configuration reaches it by omission.
 */
export const insecureTcp: Transport = {
  name: "tcp",
  listen: (address, options) =>
    Effect.suspend(() =>
      serve({ transport: "tcp", address, server: net.createServer(), event: "connection", admit: noIdentity, options })
    ),
  dial: (address) =>
    dialSocket({
      transport: "tcp",
      address,
      connect: () => net.connect({ host: address.host, port: address.port, noDelay: true }),
      ready: "connect",
      admit: noIdentity
    })
}

/** A node's TLS credentials, as PEM: its certificate and private key, and the rack CA certificate. */
export interface TlsOptions {
  readonly certPem: string
  readonly keyPem: string
  readonly caPem: string
}

/** The peer's identity, from its certificate (already verified against the rack CA by OpenSSL). */
const verifiedIdentity: Admit = (socket) => {
  if (!(socket instanceof nodeTls.TLSSocket)) return Result.fail("not a TLS connection")
  if (!socket.authorized) return Result.fail(`certificate not trusted: ${String(socket.authorizationError)}`)
  const cert = socket.getPeerX509Certificate()
  if (cert === undefined) return Result.fail("the peer presented no certificate")
  return Result.map(RackPki.identityOf(cert), Option.some)
}

/**
 * Mutual TLS 1.3 under a rack CA. Both sides present a certificate and verify the other's against the
 * CA; the peer's identity is the one its verified certificate binds (`RackPki.identityOf`), never
 * anything it says. No certificate, a certificate from another CA, a malformed identity or an older
 * TLS version ⇒ refused: `dial` fails with `TlsRefused`, a listener logs the refusal and never yields
 * the connection. Host names are not checked: who a peer is comes from its identity, which the layer
 * above compares with the `Hello` and the expected peer.
 */
export const tls = (options: TlsOptions): Transport => {
  const credentials = {
    key: options.keyPem,
    cert: options.certPem,
    ca: options.caPem,
    minVersion: "TLSv1.3",
    maxVersion: "TLSv1.3"
  } as const
  return {
    name: "tls",
    listen: (address, listenOptions) =>
      Effect.flatMap(
        Effect.try({
          try: () =>
            nodeTls.createServer({
              ...credentials,
              requestCert: true,
              rejectUnauthorized: true,
              handshakeTimeout: Duration.toMillis(
                Duration.fromInputUnsafe(listenOptions?.handshakeTimeout ?? defaultHandshakeTimeout)
              )
            }),
          catch: (e) =>
            new TransportError({
              reason: "ListenFailed",
              address: formatAddress(address),
              detail: `invalid TLS credentials: ${String(e)}`
            })
        }),
        (server) =>
          serve({
            transport: "tls",
            address,
            server,
            event: "secureConnection",
            admit: verifiedIdentity,
            options: listenOptions
          })
      ),
    dial: (address) =>
      Effect.flatMap(
        Effect.try({
          try: () => nodeTls.createSecureContext(credentials),
          catch: (e) =>
            new TransportError({
              reason: "DialFailed",
              address: formatAddress(address),
              detail: `invalid TLS credentials: ${String(e)}`
            })
        }),
        (secureContext) =>
          dialSocket({
            transport: "tls",
            address,
            connect: () =>
              nodeTls.connect({
                host: address.host,
                port: address.port,
                secureContext,
                minVersion: "TLSv1.3",
                maxVersion: "TLSv1.3",
                rejectUnauthorized: true,
                checkServerIdentity: () => undefined
              }),
            ready: "session",
            admit: verifiedIdentity
          })
      )
  }
}

// ---- in-memory ----------------------------------------------------------------------------------------

/** One end of an in-memory connection: its inbox, and its writes waiting for room in the peer's inbox. */
class MemoryEnd {
  readonly id = freshConnId()
  readonly inbox: Inbox
  readonly blocked: Array<() => void> = []
  writeError: LinkError | undefined = undefined
  peer: MemoryEnd | undefined = undefined
  onClose: () => void = () => {}
  readonly capacity: number

  constructor(capacity: number) {
    this.capacity = capacity
    // A frame read here makes room for a write the peer is blocked on.
    this.inbox = new Inbox(() => this.peer?.admit())
  }

  error(reason: LinkErrorReason, detail: string): LinkError {
    return new LinkError({ reason, connectionId: this.id, detail })
  }

  admit(): void {
    while (this.blocked.length > 0 && (this.peer?.inbox.size ?? 0) < this.capacity) this.blocked.shift()?.()
  }

  /** Delivers to the peer, which — like a socket's decoder — closes itself on an oversize frame. */
  send(payload: Uint8Array): void {
    const peer = this.peer
    if (peer === undefined) return
    if (payload.length > Frame.maxPayloadBytes) {
      peer.close(
        "FrameTooLarge",
        `the peer announced a frame of ${payload.length} bytes, over the limit of ${Frame.maxPayloadBytes}; the connection was closed`
      )
      return
    }
    peer.inbox.deliver(payload.slice())
  }

  /** Closes this end with `reason`; the peer reads what was sent before, then `Eof`. */
  close(reason: LinkErrorReason, detail: string): void {
    if (this.writeError !== undefined) return
    const error = this.error(reason, detail)
    this.writeError = error
    this.inbox.fail(error, true)
    for (const waiter of this.blocked.splice(0)) waiter()
    const peer = this.peer
    if (peer !== undefined && peer.writeError === undefined) {
      const eof = peer.error("Eof", "the peer closed the connection")
      peer.writeError = eof
      peer.inbox.fail(eof, false)
      for (const waiter of peer.blocked.splice(0)) waiter()
      peer.onClose()
    }
    this.onClose()
  }

  /** Sends now if the peer's inbox has room and no write is waiting for it. */
  tryWrite(text: Uint8Array | string, checked: boolean): boolean {
    const payload = typeof text === "string" ? textEncoder.encode(text) : text
    if (checked && payload.length > Frame.maxPayloadBytes) return false
    if (this.writeError !== undefined || this.blocked.length > 0 || (this.peer?.inbox.size ?? 0) >= this.capacity)
      return false
    this.send(payload)
    return true
  }

  write(payload: Uint8Array, checked: boolean): Effect.Effect<void, LinkError> {
    return Effect.suspend(() => {
      if (checked && payload.length > Frame.maxPayloadBytes) {
        return Effect.fail(
          this.error(
            "FrameTooLarge",
            `refused to send a payload of ${payload.length} bytes, over the limit of ${Frame.maxPayloadBytes}; the connection is still usable`
          )
        )
      }
      if (this.writeError !== undefined) return Effect.fail(this.writeError)
      if (this.tryWrite(payload, checked)) return Effect.void
      return Effect.callback<void, LinkError>((resume) => {
        const waiter = () => {
          if (this.writeError !== undefined) return resume(Effect.fail(this.writeError))
          this.send(payload)
          resume(Effect.void)
        }
        this.blocked.push(waiter)
        return Effect.sync(() => removeFrom(this.blocked, waiter))
      })
    })
  }

  conn(direction: "inbound" | "outbound", local: string, remote: string, checked: boolean): Conn {
    return {
      id: this.id,
      direction,
      localAddress: local,
      remoteAddress: remote,
      peerIdentity: Option.none(),
      read: this.inbox.read,
      write: (payload) => this.write(payload, checked),
      tryWrite: (payload) => this.tryWrite(payload, checked),
      onFrame: (handler) => {
        this.inbox.handler = handler
      },
      destroy: Effect.sync(() => this.close("Closed", "destroyed"))
    }
  }
}

/** An in-process network: listeners by address; a connection is a pair of bounded frame queues. */
export interface MemoryNetwork {
  readonly transport: Transport
  /** `transport.dial` whose writes skip the size check: a misbehaving peer, for tests of the receiver's limit. */
  readonly dialUnchecked: (address: Address) => Effect.Effect<Conn, TransportError, Scope.Scope>
}

/**
 * A fresh in-memory network. No sockets, no timers, no clock: it works under `TestClock`, and the ports
 * it hands out (listen on port 0, dialers' local ports) count up from 40000, so a run is deterministic.
 * Each direction of a connection holds at most `capacity` unread frames (default 64); a writer beyond
 * that suspends, like a socket over its high-water mark.
 */
export const makeMemoryNetwork = (options?: { readonly capacity?: number }): MemoryNetwork => {
  const capacity = options?.capacity ?? 64
  const listeners = new Map<
    string,
    { readonly backlog: Queue.Queue<Conn, TransportError>; readonly open: Set<MemoryEnd> }
  >()
  let nextPort = 40000
  const freePort = (host: string) => {
    while (listeners.has(formatAddress({ host, port: nextPort }))) nextPort++
    return nextPort++
  }

  const listen = (address: Address): Effect.Effect<Listener, TransportError, Scope.Scope> =>
    Effect.gen(function* () {
      const bound = { host: address.host, port: address.port === 0 ? freePort(address.host) : address.port }
      const key = formatAddress(bound)
      if (listeners.has(key)) {
        return yield* new TransportError({ reason: "ListenFailed", address: key, detail: "the address is in use" })
      }
      const backlog = yield* Queue.bounded<Conn, TransportError>(backlogLimit)
      const open = new Set<MemoryEnd>()
      yield* Effect.acquireRelease(
        Effect.sync(() => listeners.set(key, { backlog, open })),
        () =>
          Effect.gen(function* () {
            listeners.delete(key)
            for (const end of Array.from(open)) end.close("Closed", "the listener closed")
            yield* Effect.ignore(Queue.clear(backlog))
            yield* Queue.fail(backlog, new TransportError({ reason: "ListenerClosed", address: key, detail: "closed" }))
          })
      )
      return { address: bound, accept: Queue.take(backlog) }
    })

  const dial = (address: Address, checked: boolean): Effect.Effect<Conn, TransportError, Scope.Scope> =>
    Effect.acquireRelease(
      Effect.suspend(() => {
        const key = formatAddress(address)
        const listener = listeners.get(key)
        if (listener === undefined) {
          return Effect.fail(
            new TransportError({ reason: "DialFailed", address: key, detail: "nothing listens there" })
          )
        }
        const local = formatAddress({ host: "memory", port: freePort("memory") })
        const mine = new MemoryEnd(capacity)
        const theirs = new MemoryEnd(capacity)
        mine.peer = theirs
        theirs.peer = mine
        const accepted = theirs.conn("inbound", key, local, true)
        if (!Queue.offerUnsafe(listener.backlog, accepted)) {
          mine.close("Closed", "refused")
          return Effect.fail(
            new TransportError({ reason: "DialFailed", address: key, detail: "the listener's backlog is full" })
          )
        }
        listener.open.add(theirs)
        theirs.onClose = () => listener.open.delete(theirs)
        return Effect.succeed(mine.conn("outbound", local, key, checked))
      }),
      (conn) => conn.destroy
    )

  return {
    transport: { name: "memory", listen, dial: (address) => dial(address, true) },
    dialUnchecked: (address) => dial(address, false)
  }
}

/** The transport of an in-memory network: listen and dial rendezvous by address within `network`. */
export const memory = (network: MemoryNetwork): Transport => network.transport
