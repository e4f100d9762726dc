/**
 * The connection manager: listens, dials, runs the `Hello` handshake and turns every authenticated
 * connection into a `Link` whose events flow to one sink (the NodeTask's queue).
 *
 * Only the node with the greater listen address dials, so a pair normally has one connection; a
 * duplicate (both dialed, or a reconnect racing a dying link) is resolved by the NodeTask on `LinkUp`.
 * Each peer address has one dialer fiber that reconnects with capped exponential backoff and jitter;
 * `setPeers` starts dialers for new lower addresses and closes the links (dialed *and* accepted, since
 * the handshake carries the peer's listen address) of removed ones. Every fiber lives in the manager's
 * scope, so closing the node closes the listener, the dialers and all links. A node reached through a
 * relay, NAT or port forward advertises that address instead (`advertise`): the Hello carries it and
 * the dial rule compares it, so peers list and order it like any listen address.
 *
 * Before authentication a connection is bounded: at most `maxUnauthenticated` accepted connections may
 * be in their TLS handshake or `Hello` exchange at once (the transport closes the excess at once), each
 * has `handshakeTimeout` to finish, and refusals are logged rate-limited (a summary line per interval).
 * The bound never exceeds a quarter of the process's open-file limit, so that however long a flood lasts,
 * three quarters of the descriptors stay reserved for links, the API and ledger writes.
 * A peer that shows up with this node's own identity from another address, or with one identity from
 * two addresses at once, is logged at error level: two processes share an identity.
 */
import { readFileSync } from "node:fs"
import { Clock, Duration, Effect, FiberMap, Option, Random, Result, Schema, type Scope } from "effect"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as BaseboardIdModule from "../types/BaseboardId.ts"
import * as Link from "./Link.ts"
import * as NodeMetrics from "./NodeMetrics.ts"
import * as RateLimitedLog from "./RateLimitedLog.ts"
import { defaultMaxUnauthenticated, type ListenOptions, PreAuthGate } from "./Transport.ts"
import * as Wire from "./Wire.ts"

/** A host and port. */
export interface Address {
  readonly host: string
  readonly port: number
}

export const formatAddress = (a: Address): string =>
  a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`

const ipv4Bytes = (host: string): ReadonlyArray<number> | undefined => {
  const parts = host.split(".")
  if (parts.length !== 4) return undefined
  const bytes = parts.map((p) => Number(p))
  return bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255) ? bytes : undefined
}

/** Orders listen addresses: IPv4 hosts numerically, other hosts bytewise, then the port. */
export const compareAddress = (a: Address, b: Address): number => {
  const x = ipv4Bytes(a.host)
  const y = ipv4Bytes(b.host)
  if (x && y) {
    for (let i = 0; i < 4; i++) {
      const d = (x[i] ?? 0) - (y[i] ?? 0)
      if (d !== 0) return d
    }
  } else if (a.host !== b.host) {
    return a.host < b.host ? -1 : 1
  }
  return a.port - b.port
}

/** A connection as the transports hand it out. */
export interface Conn extends Link.LinkConn {
  readonly id: number
  readonly remoteAddress: string
  /** The identity in the peer's verified certificate (mutual TLS); none on plain transports. */
  readonly peerIdentity: Option.Option<string>
}

/** What the manager needs of a transport; `LE` is its listen error. */
export interface ConnectionSource<LE extends { readonly message: string } = { readonly message: string }> {
  readonly listen: (
    address: Address,
    options?: ListenOptions
  ) => Effect.Effect<
    { readonly address: Address; readonly accept: Effect.Effect<Conn, { readonly message: string }> },
    LE,
    Scope.Scope
  >
  readonly dial: (address: Address) => Effect.Effect<Conn, { readonly message: string }, Scope.Scope>
}

/** A handshake completed: the link is about to run. Posted before any of its frames. */
export interface LinkUp {
  readonly _tag: "LinkUp"
  readonly connectionId: number
  readonly peer: BaseboardId
  readonly listenAddress: Address
  readonly direction: "inbound" | "outbound"
  readonly remoteAddress: string
  readonly handle: Link.LinkHandle
}

export type ManagerEvent = LinkUp | Link.LinkEvent

/** A peer failed the handshake; the connection was refused and destroyed. */
export class HandshakeRefused extends Schema.TaggedError<HandshakeRefused>()("HandshakeRefused", {
  reason: Schema.Literals([
    "Timeout",
    "Transport",
    "NotHello",
    "ProtocolVersion",
    "IdentityMismatch",
    "Self",
    "DuplicateIdentity"
  ]),
  detail: Schema.String
}) {
  override get message(): string {
    return `handshake refused (${this.reason}): ${this.detail}`
  }
}

/** Timing of the manager. */
export interface ManagerOptions {
  /**
   * Time to connect, finish TLS and exchange Hellos, on both sides (default: the smaller of 5 s and the
   * link inactivity timeout). A dial made while the network is silent fails after it, so links come back
   * soon after an outage instead of after the transport's own 10 s connect timeout.
   */
  readonly handshakeTimeout: Duration.Input
  /** First reconnect delay; doubles per failed attempt. */
  readonly backoffBase: Duration.Input
  /** Reconnect delay cap. */
  readonly backoffCap: Duration.Input
  /** Accepted connections that may be unauthenticated (TLS handshake or `Hello` pending) at once (default 64). */
  readonly maxUnauthenticated: number
  /** Refused connections logged in full per interval (default 5); the rest are counted in a summary line. */
  readonly refusalLogBurst: number
  /** Interval of the refused-connection summary line (default 10 s). */
  readonly refusalLogInterval: Duration.Input
  readonly link: Partial<Link.LinkOptions>
}

export const defaultManagerOptions: ManagerOptions = {
  handshakeTimeout: Duration.seconds(5),
  backoffBase: Duration.millis(100),
  backoffCap: Duration.seconds(5),
  maxUnauthenticated: defaultMaxUnauthenticated,
  refusalLogBurst: 5,
  refusalLogInterval: Duration.seconds(10),
  link: {}
}

/** The running manager. */
export interface ConnectionManager {
  /** The bound listen address (the real port when 0 was asked for). */
  readonly listenAddress: Address
  /** The address peers know this node by: `advertise` when given, else the listen address. */
  readonly advertisedAddress: Address
  /** Replaces the set of peer listen addresses. */
  readonly setPeers: (addresses: ReadonlyArray<Address>) => Effect.Effect<void>
  readonly peers: Effect.Effect<ReadonlyArray<Address>>
}

/** The process's soft open-file limit (`ulimit -n`), where the platform tells it (Linux `/proc`). */
const descriptorLimit = Effect.try(() => readFileSync("/proc/self/limits", "utf8")).pipe(
  Effect.map((limits) => Option.map(Option.fromNullishOr(/^Max open files\s+(\d+)/m.exec(limits)?.[1]), Number)),
  Effect.orElseSucceed(() => Option.none<number>())
)

/**
 * The pre-authentication bound actually used: `wanted`, but at most a quarter of the descriptor limit,
 * so that a flood of silent connections leaves the rest to links, the API and the ledger.
 */
const unauthenticatedBound = (wanted: number) =>
  Effect.gen(function* () {
    const limit = yield* descriptorLimit
    if (Option.isNone(limit) || wanted <= Math.floor(limit.value / 4)) return wanted
    const bound = Math.max(1, Math.floor(limit.value / 4))
    yield* Effect.logWarning(
      `maxUnauthenticated ${wanted} lowered to ${bound}: the process may open ${limit.value} files, and three quarters stay reserved for links, the API and the ledger; raise ulimit -n to allow more`
    )
    return bound
  })

/** Exchanges `Hello`s on a fresh connection and checks the peer's identity, version and address. */
const handshake = (conn: Conn, self: Wire.Hello, timeout: Duration.Input) =>
  Effect.gen(function* () {
    yield* Effect.mapError(
      conn.write(Wire.encode(self)),
      (e) => new HandshakeRefused({ reason: "Transport", detail: e.message })
    )
    const payload = yield* conn.read.pipe(
      Effect.mapError((e) => new HandshakeRefused({ reason: "Transport", detail: e.message })),
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(new HandshakeRefused({ reason: "Timeout", detail: "no Hello in time" }))
      })
    )
    const decoded = Wire.decode(payload)
    if (Result.isFailure(decoded) || decoded.success._tag !== "Hello") {
      return yield* new HandshakeRefused({ reason: "NotHello", detail: "the first frame was not a Hello" })
    }
    const hello = decoded.success
    if (hello.protocolVersion !== Wire.protocolVersion) {
      return yield* new HandshakeRefused({
        reason: "ProtocolVersion",
        detail: `peer speaks version ${hello.protocolVersion}, this node ${Wire.protocolVersion}`
      })
    }
    if (Option.isSome(conn.peerIdentity) && conn.peerIdentity.value !== hello.id.toString()) {
      return yield* new HandshakeRefused({
        reason: "IdentityMismatch",
        detail: `certificate names ${conn.peerIdentity.value}, Hello claims ${hello.id.toString()}`
      })
    }
    if (BaseboardIdModule.equals(hello.id, self.id)) {
      const theirs = formatAddress(hello.listenAddress)
      return yield* theirs === formatAddress(self.listenAddress)
        ? new HandshakeRefused({ reason: "Self", detail: "connected to itself" })
        : new HandshakeRefused({ reason: "DuplicateIdentity", detail: `it listens at ${theirs}` })
    }
    return hello
  })

/**
 * Starts the manager in the current scope: binds the listener and accepts connections at once; dials
 * only after `setPeers`.
 */
export const make = <LE extends { readonly message: string }>(args: {
  readonly id: BaseboardId
  readonly listen: Address
  /** The address peers reach this node at, when it is not the listen address (a relay, NAT or port forward). */
  readonly advertise?: Address
  readonly transport: ConnectionSource<LE>
  readonly sink: (event: ManagerEvent) => Effect.Effect<void>
  /** Where each link offers its proxy frames as they are read (`NodeTask.fastPath`). */
  readonly fastPath: Link.FastPath
  readonly options?: Partial<ManagerOptions>
}) =>
  Effect.gen(function* () {
    const inactivity = Duration.fromInputUnsafe(
      args.options?.link?.inactivityTimeout ?? Link.defaultLinkOptions.inactivityTimeout
    )
    const defaultHandshake = Duration.fromInputUnsafe(defaultManagerOptions.handshakeTimeout)
    const options = {
      ...defaultManagerOptions,
      handshakeTimeout: Duration.isLessThan(inactivity, defaultHandshake) ? inactivity : defaultHandshake,
      ...args.options
    }
    const gate = new PreAuthGate(yield* unauthenticatedBound(options.maxUnauthenticated))
    const refusals = yield* RateLimitedLog.make({
      subject: "peer connections refused",
      perInterval: options.refusalLogBurst,
      interval: options.refusalLogInterval
    })
    const listener = yield* args.transport.listen(args.listen, {
      gate,
      handshakeTimeout: options.handshakeTimeout,
      refusals
    })
    const advertised = args.advertise ?? listener.address
    const self = new Wire.Hello({ id: args.id, listenAddress: advertised, protocolVersion: Wire.protocolVersion })
    const dialers = yield* FiberMap.make<string>()
    const accepted = yield* FiberMap.make<number>()
    const links = new Map<
      number,
      { readonly handle: Link.LinkHandle; readonly peer: string; readonly listenAddress: string }
    >()
    const dialing = new Set<string>()
    let peers: ReadonlyArray<Address> = []

    /** Says loudly when one identity is linked from two addresses: two processes run as one node. */
    const warnDuplicate = (conn: Conn, hello: Wire.Hello) => {
      const address = formatAddress(hello.listenAddress)
      const other = Array.from(links.values()).find((l) => l.peer === hello.id.key && l.listenAddress !== address)
      if (other === undefined) return Effect.void
      return Effect.logError(
        `peer ${hello.id.toString()} is connected from two addresses at once (${other.listenAddress} and ${address}, now from ${conn.remoteAddress}): two processes share its identity and certificate — stop the impostor or fix its configuration`
      )
    }

    /** Runs the link of an authenticated connection to its end. */
    const runLink = (conn: Conn, hello: Wire.Hello, direction: "inbound" | "outbound") =>
      Effect.gen(function* () {
        yield* warnDuplicate(conn, hello)
        const { handle, run } = yield* Link.make({
          conn,
          connectionId: conn.id,
          peer: hello.id,
          sink: args.sink,
          fastPath: args.fastPath,
          options: options.link
        })
        links.set(conn.id, { handle, peer: hello.id.key, listenAddress: formatAddress(hello.listenAddress) })
        yield* args.sink({
          _tag: "LinkUp",
          connectionId: conn.id,
          peer: hello.id,
          listenAddress: hello.listenAddress,
          direction,
          remoteAddress: conn.remoteAddress,
          handle
        })
        yield* run.pipe(Effect.ensuring(Effect.sync(() => links.delete(conn.id))))
      }).pipe(Effect.annotateLogs({ connectionId: conn.id, peer: hello.id.toString() }))

    const refuse = (conn: Conn, error: HandshakeRefused) =>
      Effect.suspend(() => {
        // This node's identity from elsewhere is not a refusal like others: an impostor, or a twin process.
        if (error.reason === "DuplicateIdentity") {
          return Effect.logError(
            `a peer at ${conn.remoteAddress} claims this node's own identity ${args.id.toString()} (${error.detail}): another process runs with this node's identity and certificate — stop it or fix its configuration`
          )
        }
        return refusals.warn(error.reason, `peer connection refused: ${error.message}`, {
          connectionId: conn.id,
          remote: conn.remoteAddress
        })
      }).pipe(Effect.andThen(NodeMetrics.handshakeRefused(error.reason)), Effect.andThen(conn.destroy))

    /** Runs the handshake, then the link; `authenticated` runs as soon as the handshake is over, either way. */
    const serve = (conn: Conn, direction: "inbound" | "outbound", authenticated: Effect.Effect<void> = Effect.void) =>
      handshake(conn, self, options.handshakeTimeout).pipe(
        Effect.ensuring(authenticated),
        Effect.matchEffect({
          onFailure: (error) => Effect.as(refuse(conn, error), false),
          onSuccess: (hello) => Effect.as(runLink(conn, hello, direction), true)
        })
      )

    // Accept forever; each connection is a fiber of its own, removed from the map when it ends. It holds
    // a pre-authentication slot (taken over from the transport's TLS stage) until its Hello is done.
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const conn = yield* listener.accept
          gate.enter()
          yield* FiberMap.run(
            accepted,
            conn.id,
            Effect.ensuring(
              serve(
                conn,
                "inbound",
                Effect.sync(() => gate.leave())
              ),
              conn.destroy
            )
          )
        }).pipe(Effect.catch((e) => Effect.logWarning("accept failed", e.message)))
      )
    )

    const baseMs = Duration.toMillis(Duration.fromInputUnsafe(options.backoffBase))
    const capMs = Duration.toMillis(Duration.fromInputUnsafe(options.backoffCap))

    /** Dials `address` until it is removed: a link that lived over a second resets the backoff. */
    const dialer = (address: Address) =>
      Effect.gen(function* () {
        let failures = 0
        while (true) {
          const started = yield* Clock.currentTimeMillis
          const dialed = args.transport.dial(address).pipe(
            Effect.timeoutOrElse({
              duration: options.handshakeTimeout,
              orElse: () => Effect.fail(new HandshakeRefused({ reason: "Timeout", detail: "not connected in time" }))
            })
          )
          const linked = yield* Effect.scoped(Effect.flatMap(dialed, (conn) => serve(conn, "outbound"))).pipe(
            Effect.catch((e) =>
              Effect.as(
                Effect.logDebug("dial failed", e.message).pipe(
                  Effect.annotateLogs({ address: formatAddress(address) })
                ),
                false
              )
            )
          )
          const lived = (yield* Clock.currentTimeMillis) - started
          failures = linked && lived > 1000 ? 0 : failures + 1
          const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(failures, 20))
          // Full jitter between half and all of the ceiling spreads out a rack's reconnect storm.
          const delay = ceiling / 2 + (yield* Random.next) * (ceiling / 2)
          yield* Effect.sleep(Duration.millis(Math.round(delay)))
        }
      })

    const setPeers = (addresses: ReadonlyArray<Address>) =>
      Effect.gen(function* () {
        const wanted = new Map(addresses.map((a) => [formatAddress(a), a] as const))
        peers = Array.from(wanted.values())
        for (const [key, address] of wanted) {
          if (compareAddress(advertised, address) > 0) {
            dialing.add(key)
            yield* FiberMap.run(dialers, key, dialer(address), { onlyIfMissing: true })
          }
        }
        // Close the links first so their LinkDown says why, then stop the dialers of removed addresses.
        for (const link of Array.from(links.values())) {
          if (!wanted.has(link.listenAddress)) yield* link.handle.close("PeerRemoved", "removed by setPeers")
        }
        for (const key of Array.from(dialing)) {
          if (!wanted.has(key)) {
            dialing.delete(key)
            yield* FiberMap.remove(dialers, key)
          }
        }
      })

    const manager: ConnectionManager = {
      listenAddress: listener.address,
      advertisedAddress: advertised,
      setPeers,
      peers: Effect.sync(() => peers)
    }
    return manager
  })
