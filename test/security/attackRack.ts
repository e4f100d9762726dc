/**
 * Shared ground of the authority attack tests: a rack of real nodes over mutual TLS whose decisions are
 * signed by a test authority key, a log capture that keeps each line's level and annotations, and a raw
 * attacker that holds one valid rack certificate, completes mutual TLS and the `Hello`, then writes
 * whatever frames it likes (or bytes no honest encoder would produce) and records what the node answers.
 */
import { assert } from "@effect/vitest"
import { Deferred, Effect, Layer, Logger, Option, References, Result, type Scope } from "effect"
import type { SigningKey } from "../../src/crypto/AuthorityKey.ts"
import type { Share } from "../../src/gfss/Gfss.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import type { NetworkConfigLedger } from "../../src/runtime/NetworkConfigReplica.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import type * as TrustQuorumNode from "../../src/runtime/TrustQuorumNode.ts"
import * as Wire from "../../src/runtime/Wire.ts"
import * as TestAuthority from "../../src/testing/TestAuthority.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import * as Configuration from "../../src/types/Configuration.ts"
import * as Decision from "../../src/types/Decision.ts"
import type { NetworkConfig } from "../../src/types/NetworkConfig.ts"
import { PeerMsg, type PeerMsgKind, Prepare } from "../../src/types/PeerMsg.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import type { RackId } from "../../src/types/RackId.ts"
import { eventually, rackId, restartable, sled } from "../runtime/rack.ts"

/** The control plane's key: every node pins its public half. */
export const authority: SigningKey = TestAuthority.fromLabel("authority attacks: control plane")
/** A key no node pins: what an attacker signs with. */
export const forger: SigningKey = TestAuthority.fromLabel("authority attacks: forger")

// ---- logs -------------------------------------------------------------------------------------------

/** One captured log line. */
export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** A logger that keeps every line (Debug and up) with its level and annotations. */
export const logCapture = () => {
  const lines: Array<LogLine> = []
  const logger = Logger.make((options) => {
    const parts: ReadonlyArray<unknown> = Array.isArray(options.message) ? options.message : [options.message]
    lines.push({
      level: options.logLevel,
      message: parts.map(String).join(" "),
      annotations: options.fiber.getRef(References.CurrentLogAnnotations)
    })
  })
  const layer = Layer.mergeAll(Logger.layer([logger]), Layer.succeed(References.MinimumLogLevel, "Debug"))
  /** The warnings node `at` logged naming peer `peer`, with `reason` as their reason annotation. */
  const refusals = (at: BaseboardId.BaseboardId, peer: BaseboardId.BaseboardId, reason: string) =>
    lines.filter(
      (l) =>
        l.level === "Warn" &&
        l.annotations.node === at.toString() &&
        l.annotations.peer === peer.toString() &&
        l.annotations.reason === reason &&
        l.message.includes(peer.toString())
    )
  /** Waits (at most 5 s) until node `at` warned about `peer` for `reason`; returns those warnings. */
  const awaitRefusal = (at: BaseboardId.BaseboardId, peer: BaseboardId.BaseboardId, reason: string) =>
    eventually(
      Effect.sync(() => refusals(at, peer, reason)),
      (found) => found.length > 0,
      "5 seconds"
    ).pipe(
      Effect.mapError(() => {
        const seen = lines
          .filter((l) => l.annotations.node === at.toString() && l.annotations.peer === peer.toString())
          .map((l) => `${l.level} ${l.message}`)
        return new Error(
          `${at} logged no warning about ${peer} for ${reason}; it logged about that peer: ${seen.join(" | ")}`
        )
      })
    )
  return { lines, layer, refusals, awaitRefusal }
}

// ---- the rack ---------------------------------------------------------------------------------------

/** One node of the rack: stoppable and restartable over the same ledger and certificate. */
export interface Member {
  readonly index: number
  readonly id: BaseboardId.BaseboardId
  readonly ledger: Ledger.MemoryLedger<PersistentState>
  readonly credentials: RackPki.NodeCredentials
  /** Where its network config lives, kept across its restarts. */
  readonly networkConfigLedger: NetworkConfigLedger<unknown>
  readonly node: TrustQuorumNode.TrustQuorumNodeShape
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void, unknown>
}

/**
 * Starts sled `index` over mutual TLS under `ca`, pinning `authority`, in the current scope; its network config
 * lives in `networkConfigLedger` (in memory unless given), kept across its restarts.
 */
export const startMember = (
  ca: RackPki.RackCa,
  index: number,
  networkConfigLedger: NetworkConfigLedger<unknown> = Ledger.memory<NetworkConfig>()
): Effect.Effect<Member, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const id = sled(index)
    const credentials = yield* RackPki.issueNodeCertificate(ca, id.toString())
    const ledger = Ledger.memory<PersistentState>()
    const node = yield* restartable(index, Transport.tls(credentials), ledger, {
      authority: authority.publicKey,
      networkConfigLedger
    })
    return {
      index,
      id,
      ledger,
      credentials,
      networkConfigLedger,
      get node() {
        return node.node
      },
      stop: node.stop,
      start: Effect.asVoid(node.start)
    }
  })

/** A rack CA and one running member per index, every member pointed at every other. */
export const startRack = (indexes: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const ca = yield* RackPki.makeRackCa()
    const members = yield* Effect.forEach(indexes, (i) => startMember(ca, i))
    yield* meshAll(members)
    return { ca, members }
  })

/** Points every member at every other and waits until each is linked to all of them. */
export const meshAll = (members: ReadonlyArray<Member>) =>
  Effect.gen(function* () {
    const addresses = members.map((m) => m.node.listenAddress)
    yield* Effect.forEach(members, (m) => m.node.setPeers(addresses), { discard: true })
    yield* Effect.forEach(
      members,
      (m) => eventually(m.node.status, (s) => s.connectedPeers.length === members.length - 1),
      { discard: true }
    )
  })

/** The member of `members` with index `index`. */
const member = (members: ReadonlyArray<Member>, index: number): Member => {
  const found = members.find((m) => m.index === index)
  if (found === undefined) throw new Error(`no sled ${index} in the rack`)
  return found
}

/** The members of `members` with these indices, in order. */
export const pick = (members: ReadonlyArray<Member>, ...indices: ReadonlyArray<number>): Array<Member> =>
  indices.map((index) => member(members, index))

/** An attack test's body, run in its own scope with every log line captured (`logs`). */
export const withLogs =
  <A, E>(body: (logs: ReturnType<typeof logCapture>) => Effect.Effect<A, E, Scope.Scope>) =>
  (): Effect.Effect<A, E> => {
    const logs = logCapture()
    return body(logs).pipe(Effect.scoped, Effect.provide(logs.layer))
  }

/** A signed reconfiguration, sent to its coordinator; waits until every member acknowledged its prepare. */
export const prepareEpoch = (args: {
  readonly coordinator: Member
  readonly epoch: number
  readonly members: ReadonlyArray<Member>
  readonly threshold: number
  readonly lastCommittedEpoch: number | null
  /** Acknowledgements to wait for (default: every member's). */
  readonly acks?: number
}) =>
  Effect.gen(function* () {
    const acks = args.acks ?? args.members.length
    yield* args.coordinator.node.reconfigure(
      Decision.reconfigureMsg(authority, {
        rackId,
        epoch: args.epoch,
        lastCommittedEpoch: args.lastCommittedEpoch,
        members: args.members.map((m) => m.id),
        threshold: args.threshold,
        coordinator: args.coordinator.id
      })
    )
    const status = yield* eventually(
      args.coordinator.node.coordinatorStatus,
      (s) => Option.isSome(s) && s.value.config.epoch === args.epoch && s.value.ackedPrepares.length >= acks
    )
    if (Option.isNone(status)) return yield* Effect.die("the coordinator stopped coordinating")
    return status.value.config
  })

/** Commits `config` at each of `members` with the control plane's signature; each must answer `Committed`. */
export const commitAt = (config: Configuration.Configuration, members: ReadonlyArray<Member>) =>
  Effect.gen(function* () {
    const proof = Decision.signCommit(authority, config)
    for (const m of members) assert.strictEqual(yield* m.node.commit(rackId, config.epoch, proof), "Committed")
    return proof
  })

/** Prepares and commits a signed epoch at every member; returns the configuration and its proof. */
export const commitEpoch = (args: Parameters<typeof prepareEpoch>[0]) =>
  Effect.gen(function* () {
    const config = yield* prepareEpoch(args)
    const proof = yield* commitAt(config, args.members)
    return { config, proof }
  })

/** Loads the secret of `epoch` at every member; asserts they all hold the same one and returns its fingerprint. */
export const unlockAll = (members: ReadonlyArray<Member>, epoch: number) =>
  Effect.gen(function* () {
    const fingerprints = yield* Effect.forEach(members, (m) =>
      eventually(m.node.loadRackSecret(epoch), Option.isSome).pipe(
        Effect.map(Option.match({ onNone: () => "", onSome: (s) => s.fingerprint() }))
      )
    )
    const first = fingerprints[0] ?? ""
    assert.isAbove(first.length, 0)
    assert.deepStrictEqual(
      fingerprints,
      members.map(() => first)
    )
    return first
  })

/** What a member persisted, as a snapshot: the state object itself (a write replaces it) and its summary. */
export const snapshot = (m: Member) =>
  Effect.gen(function* () {
    const status = yield* m.node.status
    return { state: Option.getOrUndefined(m.ledger.current()), summary: status.persistentState, alarms: status.alarms }
  })

// ---- forged messages --------------------------------------------------------------------------------

/**
 * A configuration built like a coordinator builds one — fresh secret, shares, digests — for whatever the
 * attacker chooses, carrying an authorization signed by `signer` (or a given one, e.g. replayed from a
 * genuine configuration). Returns it with every member's share.
 */
export const craftConfiguration = (args: {
  readonly rackId?: RackId
  readonly epoch: number
  readonly members: ReadonlyArray<BaseboardId.BaseboardId>
  readonly threshold: number
  readonly coordinator: BaseboardId.BaseboardId
  readonly lastCommittedEpoch: number | null
  readonly signer?: SigningKey
  readonly authorization?: Configuration.Authorization
}) => {
  const rack = args.rackId ?? rackId
  const authorization = args.authorization ?? {
    lastCommittedEpoch: args.lastCommittedEpoch,
    signature: Decision.signReconfiguration(args.signer ?? forger, {
      rackId: rack,
      epoch: args.epoch,
      lastCommittedEpoch: args.lastCommittedEpoch,
      members: args.members,
      threshold: args.threshold,
      coordinator: args.coordinator
    })
  }
  return Result.getOrThrow(
    Configuration.newConfiguration({
      rackId: rack,
      epoch: args.epoch,
      members: args.members,
      threshold: args.threshold,
      coordinator: args.coordinator,
      authorization
    })
  )
}

/** `id`'s share in a crafted configuration. */
export const shareOf = (crafted: Configuration.NewConfiguration, id: BaseboardId.BaseboardId): Share => {
  const share = crafted.shares.get(id.key)
  if (share === undefined) throw new Error(`${id} holds no share of the crafted configuration`)
  return share
}

/** A peer frame carrying `kind`, stamped with `rack`. */
export const peerFrame = (kind: PeerMsgKind, rack: RackId = rackId): Wire.Frame =>
  new Wire.Peer({ msg: new PeerMsg({ rackId: rack, kind }) })

/** A `Prepare` of a crafted configuration, carrying `to`'s share. */
export const prepareFrame = (crafted: Configuration.NewConfiguration, to: BaseboardId.BaseboardId): Wire.Frame =>
  peerFrame(new Prepare({ config: crafted.configuration, share: shareOf(crafted, to) }), crafted.configuration.rackId)

// ---- the attacker -----------------------------------------------------------------------------------

/** A raw peer connected to one node over mutual TLS, past the `Hello`. */
export interface RawPeer {
  readonly id: BaseboardId.BaseboardId
  /** Writes a frame as an honest encoder would. */
  readonly send: (frame: Wire.Frame) => Effect.Effect<void, Transport.LinkError>
  /** Writes any payload bytes as one frame (what a hostile encoder produces). */
  readonly sendPayload: (payload: Uint8Array) => Effect.Effect<void, Transport.LinkError>
  /** Every frame the node sent after its `Hello`, pings excluded, in order. */
  readonly received: ReadonlyArray<Wire.Frame>
  /** Waits (at most 5 s) for the first received frame `pick` accepts. */
  readonly next: <A>(pick: (frame: Wire.Frame) => A | undefined) => Effect.Effect<A, Error>
  /** Waits (at most 5 s) until the node closes the connection. */
  readonly closed: Effect.Effect<Transport.LinkError, Error>
}

/** Dials `target` holding `credentials`, completes mutual TLS and the `Hello`; the link lives in the current scope. */
export const rawPeer = (credentials: RackPki.NodeCredentials, target: Member) =>
  Effect.gen(function* () {
    const id = BaseboardId.fromString(credentials.identity)
    if (id === undefined) return yield* Effect.die(`not an identity: ${credentials.identity}`)
    const conn = yield* Transport.tls(credentials).dial(target.node.listenAddress)
    yield* conn.write(
      Wire.encode(
        new Wire.Hello({ id, listenAddress: { host: "127.0.0.1", port: 1 }, protocolVersion: Wire.protocolVersion })
      )
    )
    const hello = Wire.decode(yield* conn.read)
    assert.isTrue(Result.isSuccess(hello) && hello.success._tag === "Hello")
    const received: Array<Wire.Frame> = []
    const closed = Deferred.makeUnsafe<Transport.LinkError>()
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(conn.read, (payload) =>
          Effect.sync(() => {
            const frame = Wire.decode(payload)
            if (Result.isSuccess(frame) && frame.success._tag !== "Ping") received.push(frame.success)
          })
        )
      ).pipe(Effect.catch((error) => Deferred.succeed(closed, error)))
    )
    const peer: RawPeer = {
      id,
      send: (frame) => conn.write(Wire.encode(frame)),
      sendPayload: (payload) => conn.write(payload),
      received,
      next: <A>(pick: (frame: Wire.Frame) => A | undefined) =>
        eventually(
          Effect.sync(() => {
            for (const frame of received) {
              const picked = pick(frame)
              if (picked !== undefined) return Option.some(picked)
            }
            return Option.none<A>()
          }),
          Option.isSome,
          "5 seconds"
        ).pipe(Effect.flatMap((found) => (Option.isSome(found) ? Effect.succeed(found.value) : Effect.die("none")))),
      closed: Deferred.await(closed).pipe(
        Effect.timeoutOrElse({
          duration: "5 seconds",
          orElse: () => Effect.fail(new Error("the node did not close the connection within 5 s"))
        })
      )
    }
    // The node has the link once it lists it: frames sent before that would still be read in order.
    yield* eventually(target.node.connections, (cs) => cs.some((c) => c.peer.toString() === id.toString()))
    return peer
  })
