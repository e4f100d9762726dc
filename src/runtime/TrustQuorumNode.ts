/**
 * `TrustQuorumNode`: the public service of one trust-quorum node — a scoped constructor and a `Layer`.
 *
 * `make` loads the ledger (a corrupt ledger refuses to start rather than boot as new), rewrites every copy
 * with what it loaded (restoring redundancy at once), starts the NodeTask and the connection manager in
 * the caller's scope, and returns methods whose error channels are flat unions of tagged errors, so
 * `Effect.catchTag` works on every protocol and runtime error. The network config is loaded from its own
 * ledger before the connection manager starts, so a restarted node pushes what it held to its first peer.
 * Closing the scope stops the node: links close, and pending and later calls fail with `NodeStopped`;
 * so does a failed ledger write or a defect in the node's task, and `stopped` then completes with the
 * reason, for the embedding application to exit or restart on. Arguments are checked against their
 * Schemas here, at the library's boundary, so a bad epoch or rack id is a typed `InvalidArgument`
 * before it reaches the protocol core (request classes such as `ReconfigureMsg` check themselves when
 * constructed).
 */
import { Context, Duration, Effect, Layer, Option, Result, Schema, type Scope, SubscriptionRef } from "effect"
import type { PublicKey, Signature } from "../crypto/AuthorityKey.ts"
import type { RackSecret } from "../crypto/RackSecret.ts"
import type { Rng } from "../gfss/Rng.ts"
import { Node } from "../protocol/Node.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import { Epoch } from "../types/Epoch.ts"
import type { NetworkConfig, UpdateNetworkConfigError } from "../types/NetworkConfig.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type {
  CommitError,
  LoadRackSecretError,
  PrepareAndCommitError,
  ReconfigurationError
} from "../types/ProtocolError.ts"
import { RackId } from "../types/RackId.ts"
import { CommitRequest, PrepareAndCommitRequest, type ReconfigureMsg } from "../types/Request.ts"
import type { CommitStatus, CoordinatorStatus, NodeStatus } from "../types/Status.ts"
import * as ConnectionManager from "./ConnectionManager.ts"
import * as Ledger from "./Ledger.ts"
import type * as Link from "./Link.ts"

import type { NetworkConfigLedger } from "./NetworkConfigReplica.ts"
import * as NodeMetrics from "./NodeMetrics.ts"

import * as NodeTask from "./NodeTask.ts"
import * as ProxyOperation from "./ProxyOperation.ts"
import {
  type Busy,
  type Disconnected,
  InvalidArgument,
  type InvalidResponse,
  type NodeStopped,
  ProxyTimeout
} from "./RuntimeError.ts"
import type { Transport, TransportError } from "./Transport.ts"

/** The ledger a node persists to: `Ledger.file(...)` or `Ledger.memory(...)`. */
export interface NodeLedger<E> extends NodeTask.StateLedger {
  readonly load: Effect.Effect<Option.Option<PersistentState.PersistentState>, E>
}

/** How to run a node; `NE` is the network-config ledger's load error (`LedgerCorrupt` for files). */
export interface TrustQuorumNodeConfig<E = never, NE = never> {
  readonly id: BaseboardId
  /** The peer (bootstrap network) address; port 0 picks a free port, exposed as `listenAddress`. */
  readonly listen: ConnectionManager.Address
  /**
   * The address peers reach this node at, when it differs from `listen` (a relay, NAT or port forward).
   * The Hello carries it and the dial rule compares it; peers list it in their `setPeers`.
   */
  readonly advertise?: ConnectionManager.Address
  /** Mutual TLS (`Transport.tls`) in production; `Transport.insecureTcp` only on a trusted host. */
  readonly transport: Transport
  /**
   * The control plane's authority public key (`authority.pub`). Every reconfiguration, commit,
   * `CommitAdvance` and `Expunged` this node acts on must be signed by it.
   */
  readonly authority: PublicKey
  readonly ledger: NodeLedger<E>
  /**
   * Where the network config is kept: `Ledger.file({ paths, schema: NetworkConfig })` (same durability and
   * fail-closed rules as `ledger`). Default: in memory — a restarted node then holds none until a peer
   * pushes it one.
   */
  readonly networkConfigLedger?: NetworkConfigLedger<NE>
  /** Randomness for secrets and salts (default: the OS CSPRNG). */
  readonly rng?: Rng
  readonly link?: Partial<Link.LinkOptions>
  readonly connections?: Partial<Omit<ConnectionManager.ManagerOptions, "link">>
  /** API requests that may wait at once before calls fail with `Busy`; link traffic never takes them (default 32). */
  readonly maxPendingApi?: number
  /**
   * Proxied requests in flight at once before `proxy` calls fail with `Busy` — the proxy's only admission
   * bound (default 256). Links allow as many proxy frames waiting to be written.
   */
  readonly maxInFlightProxied?: number
}

type Api<A, E> = Effect.Effect<A, E | Busy | NodeStopped>

/** A running node. */
export interface TrustQuorumNodeShape {
  readonly id: BaseboardId
  readonly listenAddress: ConnectionManager.Address
  readonly setPeers: (addresses: ReadonlyArray<ConnectionManager.Address>) => Effect.Effect<void>
  readonly reconfigure: (msg: ReconfigureMsg) => Api<void, ReconfigurationError>
  /** The coordinator's progress, or none when this node is not coordinating. */
  readonly coordinatorStatus: Api<Option.Option<CoordinatorStatus>, never>
  /** Commits `epoch`; `proof` is the control plane's commit signature (`Decision.signCommit`). */
  readonly commit: (rackId: RackId, epoch: Epoch, proof: Signature) => Api<CommitStatus, CommitError | InvalidArgument>
  /** Commits `config` at a member that may have missed its prepare; `proof` as for `commit`. */
  readonly prepareAndCommit: (config: Configuration, proof: Signature) => Api<CommitStatus, PrepareAndCommitError>
  /** The secret of `epoch`, or none while shares are still being collected (poll again). */
  readonly loadRackSecret: (epoch: Epoch) => Api<Option.Option<RackSecret>, LoadRackSecretError | InvalidArgument>
  /** The latest committed epoch and its secret, read and loaded in one step. */
  readonly loadLatestRackSecret: Api<
    Option.Option<{ readonly epoch: Epoch; readonly secret: RackSecret }>,
    LoadRackSecretError
  >
  readonly clearSecrets: Api<void, never>
  readonly status: Api<NodeStatus, never>
  readonly connections: Api<ReadonlyArray<NodeTask.ConnectionInfo>, never>
  /** Forwards operations to a node that has no API of its own, over this node's link to it. */
  readonly proxy: Proxy
  /** The latest committed epoch; changes after each durable commit. */
  readonly committedEpoch: SubscriptionRef.SubscriptionRef<Option.Option<Epoch>>
  /**
   * Replaces the network config: it must be signed by the authority key (`Decision.networkConfig`) and
   * have a higher generation than the one held (equal is `StaleNetworkConfig` too). Persisted before this
   * returns, then broadcast to every peer.
   */
  readonly updateNetworkConfig: (config: NetworkConfig) => Api<void, UpdateNetworkConfigError>
  /** The network config held, if any. */
  readonly networkConfig: Effect.Effect<Option.Option<NetworkConfig>>
  /** The network config held; changes after each durable update or adoption from a peer. */
  readonly networkConfigChanges: SubscriptionRef.SubscriptionRef<Option.Option<NetworkConfig>>
  /** Ledger copies written by the last save (fewer than configured means degraded redundancy). */
  readonly ledgerCopies: Effect.Effect<{ readonly written: number; readonly configured: number } | undefined>
  /**
   * Completes with the reason once the node has stopped — a ledger write that failed for good, a defect
   * in its task, or its scope closing. Every call fails with that `NodeStopped` from then on.
   */
  readonly stopped: Effect.Effect<NodeStopped>
}

/** Errors every proxied call may fail with, besides the operation's own. */
export type ProxyError = Disconnected | Busy | InvalidResponse | NodeStopped

/** The proxy client of a node. Every error channel is flat: `catchTag("NotPrepared")` and `catchTag("Disconnected")` both work. */
export interface Proxy {
  readonly commit: (
    destination: BaseboardId,
    rackId: RackId,
    epoch: Epoch,
    proof: Signature
  ) => Effect.Effect<CommitStatus, CommitError | ProxyError | InvalidArgument>
  readonly prepareAndCommit: (
    destination: BaseboardId,
    config: Configuration,
    proof: Signature
  ) => Effect.Effect<CommitStatus, PrepareAndCommitError | ProxyError>
  readonly status: (destination: BaseboardId) => Effect.Effect<NodeStatus, ProxyError>
  /** Any declared operation; with `timeout`, a typed `ProxyTimeout` when no answer comes in time. */
  readonly call: <P, A, E>(
    operation: ProxyOperation.Operation<string, P, A, E>,
    destination: BaseboardId,
    payload: P,
    options?: { readonly timeout?: Duration.Input }
  ) => Effect.Effect<A, E | ProxyError | ProxyTimeout>
}

const ok = <A>(a: A): Result.Result<A, never> => Result.succeed(a)

/** Checks an argument against its Schema: a typed `InvalidArgument` instead of a value the core never expects. */
const checked = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, argument: string) => {
  const decode = Schema.decodeUnknownResult(Schema.toType(schema))
  return (value: S["Type"]): Effect.Effect<S["Type"], InvalidArgument> => {
    const decoded = decode(value)
    return Result.isSuccess(decoded)
      ? Effect.succeed(decoded.success)
      : Effect.fail(new InvalidArgument({ argument, issue: decoded.failure.message }))
  }
}
const checkEpoch = checked(Epoch, "epoch")
const checkRackId = checked(RackId, "rack id")

/** A control-plane request refused for want of the authority's signature is logged: someone holds the API port. */
const refusedLoudly = <A, E extends { readonly _tag: string; readonly message: string }>(call: Effect.Effect<A, E>) =>
  Effect.tapError(call, (e) =>
    e._tag === "NotAuthorized" ? Effect.logWarning(`refused a request: ${e.message}`) : Effect.void
  )

/** The default network-config ledger: in memory (a memory ledger never fails to load). */
const inMemory = (): NetworkConfigLedger => {
  const ledger = Ledger.memory<NetworkConfig>()
  return { load: Effect.sync(() => ledger.current()), save: ledger.save }
}

/** Starts a node in the current scope. */
export const make = <E, NE = never>(
  config: TrustQuorumNodeConfig<E, NE>
): Effect.Effect<TrustQuorumNodeShape, E | NE | TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const loaded = yield* config.ledger.load
    // Rewrite every copy with the state just loaded, so a copy that was stale, corrupt or missing is current
    // again now rather than at the next change of state (which may be far off), when one more disk fault
    // could lose it. A failure is logged; the node's first write would stop it anyway.
    if (Option.isSome(loaded)) {
      yield* config.ledger.save(loaded.value).pipe(
        Effect.tapError((e) => Effect.logError("the ledger could not be rewritten at start", e.message)),
        Effect.ignore
      )
    }
    // Loaded before any link exists: the first frame a peer gets about it is what this node held.
    const networkConfigLedger: NetworkConfigLedger<NE> = config.networkConfigLedger ?? inMemory()
    const loadedNetworkConfig = yield* networkConfigLedger.load
    if (Option.isSome(loadedNetworkConfig)) {
      yield* networkConfigLedger.save(loadedNetworkConfig.value).pipe(
        Effect.tapError((e) => Effect.logError("the network-config ledger could not be rewritten at start", e.message)),
        Effect.ignore
      )
    }
    if (config.transport.name === "tcp") {
      yield* Effect.logWarning(
        "the peer network runs on plain TCP (Transport.insecureTcp): any process that can connect may claim any identity; use mutual TLS outside tests"
      )
    }
    const node = new Node({
      id: config.id,
      authority: config.authority,
      persistentState: Option.getOrElse(loaded, () => PersistentState.empty),
      ...(config.rng ? { rng: config.rng } : {})
    })
    // The listener must be bound before the task knows its own address, so the manager forwards to a
    // task that is created right after it; no event can arrive before the task exists (no peers yet).
    let sink: (event: ConnectionManager.ManagerEvent) => Effect.Effect<void> = () => Effect.void
    let fastPath: Link.FastPath = () => false
    const maxInFlightProxied = config.maxInFlightProxied ?? 256
    const manager = yield* ConnectionManager.make({
      id: config.id,
      listen: config.listen,
      ...(config.advertise === undefined ? {} : { advertise: config.advertise }),
      transport: config.transport,
      sink: (event) => sink(event),
      fastPath: (connectionId, frame) => fastPath(connectionId, frame),
      options: { ...config.connections, link: { proxyCapacity: maxInFlightProxied, ...config.link } }
    })
    const task = yield* NodeTask.make({
      node,
      listenAddress: manager.advertisedAddress,
      ledger: config.ledger,
      maxInFlightProxied,
      ...(config.maxPendingApi === undefined ? {} : { maxPendingApi: config.maxPendingApi }),
      networkConfig: { ledger: networkConfigLedger, loaded: loadedNetworkConfig }
    })
    sink = task.sink
    fastPath = task.fastPath
    yield* NodeMetrics.register
    yield* Effect.annotateCurrentSpan("node", config.id.toString())

    const shape: TrustQuorumNodeShape = {
      id: config.id,
      listenAddress: manager.listenAddress,
      setPeers: manager.setPeers,
      reconfigure: (msg) => refusedLoudly(task.call((n) => n.coordinateReconfiguration(msg))),
      coordinatorStatus: task.call((n) => ok(Option.fromNullishOr(n.coordinatorStatus()))),
      commit: (rackId, epoch, proof) =>
        Effect.andThen(Effect.all([checkRackId(rackId), checkEpoch(epoch)]), ([r, e]) =>
          refusedLoudly(task.call((n) => n.commitConfiguration(r, e, proof)))
        ),
      prepareAndCommit: (c, proof) => refusedLoudly(task.call((n) => n.prepareAndCommit(c, proof))),
      loadRackSecret: (epoch) => Effect.andThen(checkEpoch(epoch), (e) => task.call((n) => n.loadRackSecret(e))),
      loadLatestRackSecret: task.call((n) => n.loadLatestRackSecret()),
      clearSecrets: task.call((n) => ok(n.clearSecrets())),
      status: task.call((n, t) => ok(ProxyOperation.statusOf(n, t))),
      connections: task.call((_, t) => ok(t.connections)),
      proxy: {
        commit: (destination, rackId, epoch, proof) =>
          Effect.andThen(Effect.all([checkRackId(rackId), checkEpoch(epoch)]), ([r, e]) =>
            task.proxy(ProxyOperation.Commit, destination, new CommitRequest({ rackId: r, epoch: e, proof }))
          ),
        prepareAndCommit: (destination, config, proof) =>
          task.proxy(ProxyOperation.PrepareAndCommit, destination, new PrepareAndCommitRequest({ config, proof })),
        status: (destination) => task.proxy(ProxyOperation.Status, destination, {}),
        call: (operation, destination, payload, options) => {
          const call = task.proxy(operation, destination, payload)
          const timeout = options?.timeout
          if (timeout === undefined) return call
          const millis = Duration.toMillis(Duration.fromInputUnsafe(timeout))
          return call.pipe(
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () => Effect.fail(new ProxyTimeout({ destination: destination.toString(), millis }))
            })
          )
        }
      },
      committedEpoch: task.committedEpoch,
      updateNetworkConfig: task.updateNetworkConfig,
      networkConfig: SubscriptionRef.get(task.networkConfig),
      networkConfigChanges: task.networkConfig,
      ledgerCopies: task.ledgerCopies,
      stopped: task.stopped
    }
    return shape
  }).pipe(Effect.annotateLogs({ node: config.id.toString() }))

/** The node as a service. */
export class TrustQuorumNode extends Context.Service<TrustQuorumNode, TrustQuorumNodeShape>()(
  "effect-trust-quorum/TrustQuorumNode"
) {
  /** A layer that runs the node for the layer's lifetime. */
  static readonly layer = <E, NE = never>(config: TrustQuorumNodeConfig<E, NE>) =>
    Layer.effect(TrustQuorumNode, make(config))
}
