/**
 * Transports: how a node listens for and dials its peers, and the framed connections they yield.
 *
 * `tcp` is plain TCP, `tls` is mutual TLS 1.3 under a rack CA where each side learns the other's
 * BaseboardId from its verified certificate (no certificate, another CA or no identity ⇒ refused), and
 * `memory` is an in-process network for deterministic tests. A `Conn` reads and writes whole frames
 * (4-byte length + payload, at most 1 MiB); `write` respects socket backpressure and writes a frame as
 * one unit; `destroy` is a hard close. Closing the listener's scope destroys every connection it
 * accepted that is still open.
 */
import * as net from "node:net"
import * as tls from "node:tls"
import { Effect, Option, Queue, Result, Schema, type Scope } from "effect"
import type { Address, Conn, ConnectionSource } from "./ConnectionManager.ts"
import * as Frame from "./Frame.ts"
import { identityOf } from "./RackPki.ts"

/** A connection failed or ended. `reason` is what the link reports. */
export class ConnError extends Schema.TaggedError<ConnError>()("ConnError", {
  reason: Schema.Literals(["Eof", "Reset", "FrameTooLarge"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/** Listening or dialling failed, or a peer was refused at the TLS layer. */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  reason: Schema.Literals(["ListenFailed", "DialFailed", "TlsRefused"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/** A framed connection of a transport; its reads and writes fail with `ConnError`. */
export interface TransportConn extends Conn {
  readonly read: Effect.Effect<Uint8Array, ConnError>
  readonly write: (payload: Uint8Array) => Effect.Effect<void, ConnError>
}

/** A transport: `listen` and `dial`, both scoped. */
export interface Transport extends ConnectionSource<TransportError> {
  readonly name: "tcp" | "tls" | "memory"
  readonly listen: (
    address: Address
  ) => Effect.Effect<
    { readonly address: Address; readonly accept: Effect.Effect<TransportConn, TransportError> },
    TransportError,
    Scope.Scope
  >
  readonly dial: (address: Address) => Effect.Effect<TransportConn, TransportError, Scope.Scope>
}

let nextConnId = 1
/** Connection ids are unique within the process, so a link is never confused with an earlier one. */
export const freshConnId = (): number => nextConnId++

/** Frames waiting to be read before the socket is paused (read backpressure). */
const readHighWater = 64

/** Wraps a connected socket as a framed `Conn`. */
const fromSocket = (socket: net.Socket, peerIdentity: Option.Option<string>): TransportConn => {
  const decoder = new Frame.Decoder()
  const frames: Array<Uint8Array> = []
  let head = 0
  let ended: ConnError | undefined
  let waiter: ((effect: Effect.Effect<Uint8Array, ConnError>) => void) | undefined
  const wake = () => {
    const w = waiter
    if (w === undefined) return
    if (head < frames.length) {
      waiter = undefined
      w(Effect.succeed(take()))
    } else if (ended !== undefined) {
      waiter = undefined
      w(Effect.fail(ended))
    }
  }
  const take = (): Uint8Array => {
    const frame = frames[head] ?? new Uint8Array(0)
    head++
    if (head === frames.length) {
      frames.length = 0
      head = 0
    }
    if (socket.isPaused() && frames.length - head < readHighWater / 2) socket.resume()
    return frame
  }
  const end = (error: ConnError) => {
    ended ??= error
    wake()
  }
  socket.setNoDelay(true)
  socket.on("data", (chunk: Buffer) => {
    const decoded = decoder.push(chunk)
    if (Result.isFailure(decoded)) {
      end(new ConnError({ reason: "FrameTooLarge", detail: decoded.failure.message }))
      socket.destroy()
      return
    }
    for (const f of decoded.success) frames.push(f)
    if (frames.length - head >= readHighWater) socket.pause()
    wake()
  })
  socket.on("end", () => end(new ConnError({ reason: "Eof", detail: "the peer closed the connection" })))
  socket.on("error", (e) => end(new ConnError({ reason: "Reset", detail: e.message })))
  socket.on("close", () => end(new ConnError({ reason: "Eof", detail: "the connection closed" })))

  const read = Effect.callback<Uint8Array, ConnError>((resume) => {
    if (head < frames.length) return resume(Effect.succeed(take()))
    if (ended !== undefined) return resume(Effect.fail(ended))
    waiter = resume
    return Effect.sync(() => {
      waiter = undefined
    })
  })

  const write = (payload: Uint8Array) =>
    Effect.callback<void, ConnError>((resume) => {
      const h = Frame.header(payload.length)
      if (Result.isFailure(h))
        return resume(Effect.fail(new ConnError({ reason: "FrameTooLarge", detail: h.failure.message })))
      if (ended !== undefined || socket.destroyed)
        return resume(Effect.fail(ended ?? new ConnError({ reason: "Eof", detail: "closed" })))
      socket.cork()
      socket.write(h.success)
      const flushed = socket.write(payload)
      socket.uncork()
      if (flushed) return resume(Effect.void)
      const onDrain = () => {
        socket.off("close", onClose)
        resume(Effect.void)
      }
      const onClose = () => {
        socket.off("drain", onDrain)
        resume(Effect.fail(ended ?? new ConnError({ reason: "Eof", detail: "closed while writing" })))
      }
      socket.once("drain", onDrain)
      socket.once("close", onClose)
      return Effect.sync(() => {
        socket.off("drain", onDrain)
        socket.off("close", onClose)
      })
    })

  return {
    id: freshConnId(),
    remoteAddress: `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`,
    peerIdentity,
    read,
    write,
    destroy: Effect.sync(() => {
      socket.destroy()
    })
  }
}

type Accepted =
  | { readonly _tag: "Socket"; readonly socket: net.Socket }
  | { readonly _tag: "Refused"; readonly detail: string }

/** A listening server whose connections (and refusals) queue up for `accept`. */
const listenWith = (
  address: Address,
  create: (onSocket: (socket: net.Socket) => void, onRefused: (detail: string) => void) => net.Server,
  toConn: (socket: net.Socket) => Result.Result<TransportConn, string>
): Effect.Effect<
  { readonly address: Address; readonly accept: Effect.Effect<TransportConn, TransportError> },
  TransportError,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Accepted>()
    const sockets = new Set<net.Socket>()
    const server = yield* Effect.acquireRelease(
      Effect.callback<net.Server, TransportError>((resume) => {
        const server = create(
          (socket) => {
            sockets.add(socket)
            socket.once("close", () => sockets.delete(socket))
            Queue.offerUnsafe(queue, { _tag: "Socket", socket })
          },
          (detail) => Queue.offerUnsafe(queue, { _tag: "Refused", detail })
        )
        server.once("error", (e) =>
          resume(Effect.fail(new TransportError({ reason: "ListenFailed", detail: e.message })))
        )
        server.listen(address.port, address.host, () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.sync(() => {
          server.close()
          for (const s of sockets) s.destroy()
        })
    )
    const bound = server.address()
    const port = typeof bound === "object" && bound !== null ? bound.port : address.port
    const accept: Effect.Effect<TransportConn, TransportError> = Effect.gen(function* () {
      while (true) {
        const next = yield* Queue.take(queue)
        if (next._tag === "Refused") {
          yield* Effect.logWarning("peer refused at the TLS layer", next.detail)
          continue
        }
        const conn = toConn(next.socket)
        if (Result.isSuccess(conn)) return conn.success
        next.socket.destroy()
        yield* Effect.logWarning("peer refused", conn.failure)
      }
    })
    return { address: { host: address.host, port }, accept }
  })

const dialWith = (
  connect: (onReady: (socket: net.Socket) => void, onError: (e: TransportError) => void) => net.Socket,
  toConn: (socket: net.Socket) => Result.Result<TransportConn, string>
): Effect.Effect<TransportConn, TransportError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<TransportConn, TransportError>((resume) => {
      const socket = connect(
        (s) => {
          const conn = toConn(s)
          if (Result.isSuccess(conn)) resume(Effect.succeed(conn.success))
          else {
            s.destroy()
            resume(Effect.fail(new TransportError({ reason: "TlsRefused", detail: conn.failure })))
          }
        },
        (e) => resume(Effect.fail(e))
      )
      return Effect.sync(() => {
        socket.destroy()
      })
    }),
    (conn) => conn.destroy
  )

/** Plain TCP. */
export const tcp: Transport = {
  name: "tcp",
  listen: (address) =>
    listenWith(
      address,
      (onSocket) => net.createServer({ noDelay: true }, onSocket),
      (socket) => Result.succeed(fromSocket(socket, Option.none()))
    ),
  dial: (address) =>
    dialWith(
      (onReady, onError) => {
        const socket = net.connect({ host: address.host, port: address.port, noDelay: true })
        socket.once("connect", () => onReady(socket))
        socket.once("error", (e) => onError(new TransportError({ reason: "DialFailed", detail: e.message })))
        return socket
      },
      (socket) => Result.succeed(fromSocket(socket, Option.none()))
    )
}

/** A node's TLS credentials: its certificate and key, and the rack CA it trusts. */
export interface TlsOptions {
  readonly certPem: string
  readonly keyPem: string
  readonly caPem: string
}

const verifiedIdentity = (socket: tls.TLSSocket): Result.Result<TransportConn, string> => {
  if (!socket.authorized) return Result.fail(`peer certificate not authorized: ${String(socket.authorizationError)}`)
  const cert = socket.getPeerX509Certificate()
  const identity = cert === undefined ? undefined : identityOf(cert)
  if (identity === undefined) return Result.fail("peer certificate binds no BaseboardId")
  return Result.succeed(fromSocket(socket, Option.some(identity)))
}

const isTlsSocket = (s: net.Socket): s is tls.TLSSocket => s instanceof tls.TLSSocket

/** Mutual TLS 1.3 under a rack CA; the peer's identity comes from its verified certificate. */
export const tls13 = (options: TlsOptions): Transport => {
  const common = {
    key: options.keyPem,
    cert: options.certPem,
    ca: options.caPem,
    minVersion: "TLSv1.3" as const,
    maxVersion: "TLSv1.3" as const
  }
  const toConn = (s: net.Socket) => (isTlsSocket(s) ? verifiedIdentity(s) : Result.fail("not a TLS socket"))
  return {
    name: "tls",
    listen: (address) =>
      listenWith(
        address,
        (onSocket, onRefused) => {
          const server = tls.createServer({ ...common, requestCert: true, rejectUnauthorized: true }, onSocket)
          server.on("tlsClientError", (e) => onRefused(e.message))
          return server
        },
        toConn
      ),
    dial: (address) =>
      dialWith((onReady, onError) => {
        // Host names are not checked: identity is the BaseboardId bound in the certificate (and the Hello).
        const socket = tls.connect({
          ...common,
          host: address.host,
          port: address.port,
          checkServerIdentity: () => undefined
        })
        socket.once("secureConnect", () => onReady(socket))
        socket.once("error", (e) => onError(new TransportError({ reason: "TlsRefused", detail: e.message })))
        return socket
      }, toConn)
  }
}

// ---- in-memory --------------------------------------------------------------------------------------

/** An in-process network: listeners by address, connections as pairs of queues. */
export interface MemoryNetwork {
  readonly transport: Transport
}

const memoryPair = (a: string, b: string): Effect.Effect<readonly [TransportConn, TransportConn]> =>
  Effect.gen(function* () {
    const toA = yield* Queue.unbounded<Uint8Array, ConnError>()
    const toB = yield* Queue.unbounded<Uint8Array, ConnError>()
    const side = (
      inbound: Queue.Queue<Uint8Array, ConnError>,
      outbound: Queue.Queue<Uint8Array, ConnError>,
      remote: string
    ): TransportConn => ({
      id: freshConnId(),
      remoteAddress: remote,
      peerIdentity: Option.none(),
      read: Queue.take(inbound),
      write: (payload) =>
        payload.length > Frame.maxPayloadBytes
          ? Effect.fail(new ConnError({ reason: "FrameTooLarge", detail: `${payload.length} bytes` }))
          : Effect.suspend(() =>
              Queue.offerUnsafe(outbound, Uint8Array.from(payload))
                ? Effect.void
                : Effect.fail(new ConnError({ reason: "Eof", detail: "the peer closed the connection" }))
            ),
      destroy: Effect.all([
        Queue.fail(inbound, new ConnError({ reason: "Eof", detail: "closed" })),
        Queue.fail(outbound, new ConnError({ reason: "Eof", detail: "the peer closed the connection" }))
      ]).pipe(Effect.asVoid)
    })
    return [side(toA, toB, b), side(toB, toA, a)] as const
  })

/** A fresh in-memory network; its transport rendezvous by address (port 0 picks a free port). */
export const memoryNetwork = (): MemoryNetwork => {
  const listeners = new Map<string, Queue.Queue<TransportConn>>()
  let nextPort = 40000
  const key = (a: Address) => `${a.host}:${a.port}`
  const transport: Transport = {
    name: "memory",
    listen: (address) =>
      Effect.gen(function* () {
        const bound = { host: address.host, port: address.port === 0 ? nextPort++ : address.port }
        if (listeners.has(key(bound))) {
          return yield* new TransportError({ reason: "ListenFailed", detail: `${key(bound)} is in use` })
        }
        const queue = yield* Queue.unbounded<TransportConn>()
        yield* Effect.acquireRelease(
          Effect.sync(() => listeners.set(key(bound), queue)),
          () =>
            Effect.gen(function* () {
              listeners.delete(key(bound))
              for (const conn of yield* Queue.clear(queue)) yield* conn.destroy
            })
        )
        return { address: bound, accept: Queue.take(queue) }
      }),
    dial: (address) =>
      Effect.acquireRelease(
        Effect.gen(function* () {
          const queue = listeners.get(key(address))
          if (queue === undefined) {
            return yield* new TransportError({ reason: "DialFailed", detail: `nothing listens on ${key(address)}` })
          }
          const [mine, theirs] = yield* memoryPair(`memory:${nextPort++}`, key(address))
          Queue.offerUnsafe(queue, theirs)
          return mine
        }),
        (conn) => conn.destroy
      )
  }
  return { transport }
}
