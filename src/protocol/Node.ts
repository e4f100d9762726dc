/**
 * The sans-io trust-quorum protocol node: the control plane's operations (reconfigure, commit,
 * prepare-and-commit, load a rack secret) and the handling of every peer message, as synchronous
 * functions over the node's context. It never reads clocks, sockets or files; randomness comes only
 * from the injected `Rng`, so a seeded run is deterministic.
 *
 * Improvements over the original (omicron): `prepareAndCommit` answers `NotAMember` to a node outside
 * the configuration and `Superseded` when the node already committed a newer epoch, and `commit`
 * answers `Superseded` likewise — where the original logs and reports `Pending` forever. Peer
 * CommitAdvance messages keep the original behaviour (ignored in those cases).
 */
import { Option, Result } from "effect"
import type { RackSecret } from "../crypto/RackSecret.ts"
import { copyShare } from "../gfss/Gfss.ts"
import type { Rng } from "../gfss/Rng.ts"
import type { Alarm } from "../types/Alarm.ts"
import { MismatchedConfigurations } from "../types/Alarm.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as BaseboardIdModule from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import * as ConfigurationModule from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import { CommitAdvance, ExpungedReply, type PeerMsg, PrepareAck, ShareReply } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import {
  type CommitError,
  Expunged,
  InvalidRackId,
  type LoadRackSecretError,
  NoCommittedConfigurations,
  NotAMember,
  NotPrepared,
  type PrepareAndCommitError,
  type ReconfigurationError,
  Superseded
} from "../types/ProtocolError.ts"
import type { RackId } from "../types/RackId.ts"
import type { ReconfigureMsg } from "../types/Request.ts"
import type { CommitStatus, CoordinatorStatus } from "../types/Status.ts"
import { Coordinator } from "./Coordinator.ts"
import { KeyShareComputer } from "./KeyShareComputer.ts"
import { NodeCtx } from "./NodeCtx.ts"
import { RackSecretLoader } from "./RackSecretLoader.ts"
import { validateReconfiguration } from "./Validation.ts"

/** A protocol node. All methods are synchronous; the caller persists, replies, then sends (see NodeCtx). */
export class Node {
  readonly id: BaseboardId
  readonly ctx: NodeCtx
  readonly #rng: Rng | undefined
  #coordinator: Coordinator | undefined
  #computer: KeyShareComputer | undefined
  readonly #loader = new RackSecretLoader()

  constructor(options: {
    readonly id: BaseboardId
    readonly persistentState?: PersistentState.PersistentState
    readonly rng?: Rng
  }) {
    this.id = options.id
    this.ctx = new NodeCtx(options.id, options.persistentState ?? PersistentState.empty)
    this.#rng = options.rng
  }

  // ---- control-plane operations -------------------------------------------------------------

  /** Starts coordinating a reconfiguration at this node (it must be a member of the new group). */
  coordinateReconfiguration(msg: ReconfigureMsg): Result.Result<void, ReconfigurationError> {
    const checked = validateReconfiguration(this.id, this.ctx.persistentState, msg, this.#coordinator?.msg)
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
    if (checked.success === "Idempotent") return Result.void
    this.#cancelComputer()
    const started = Coordinator.start(this.ctx, msg, this.#rng)
    if (Result.isFailure(started)) return Result.fail(started.failure)
    this.#cancelCoordinator()
    this.#coordinator = started.success
    return Result.void
  }

  /** Commits `epoch`, which this node must have prepared. */
  commitConfiguration(rackId: RackId, epoch: Epoch): Result.Result<CommitStatus, CommitError> {
    const state = this.ctx.persistentState
    if (Option.isSome(state.expunged)) return Result.fail(this.#expungedError())
    const known = PersistentState.rackId(state)
    if (known !== undefined && known !== rackId) return Result.fail(new InvalidRackId({ expected: known, got: rackId }))
    const latest = PersistentState.latestCommittedEpoch(state)
    if (latest !== undefined && latest >= epoch) {
      return state.commits.has(epoch)
        ? Result.succeed("Committed")
        : Result.fail(new Superseded({ epoch, latestCommitted: latest }))
    }
    if (!PersistentState.hasPrepared(state, epoch)) return Result.fail(new NotPrepared({ epoch }))
    this.ctx.updatePersistentState((s) => PersistentState.update(s, (d) => d.commits.add(epoch)))
    if (this.#coordinator?.epoch === epoch) this.#cancelCoordinator()
    return Result.succeed("Committed")
  }

  /** Commits `config` at a member that may have missed its prepare; `Pending` while it rebuilds its share. */
  prepareAndCommit(config: Configuration): Result.Result<CommitStatus, PrepareAndCommitError> {
    const state = this.ctx.persistentState
    if (Option.isSome(state.expunged)) return Result.fail(this.#expungedError())
    const known = PersistentState.rackId(state)
    if (known !== undefined && known !== config.rackId) {
      return Result.fail(new InvalidRackId({ expected: known, got: config.rackId }))
    }
    if (!config.isMember(this.id)) return Result.fail(new NotAMember({ epoch: config.epoch }))
    const latest = PersistentState.latestCommittedEpoch(state)
    if (latest !== undefined && latest > config.epoch && !state.commits.has(config.epoch)) {
      return Result.fail(new Superseded({ epoch: config.epoch, latestCommitted: latest }))
    }
    this.#handleCommitAdvance("Nexus", config)
    return Result.succeed(this.ctx.persistentState.commits.has(config.epoch) ? "Committed" : "Pending")
  }

  /** The secret of a committed `epoch`; none while shares are being collected (call again). */
  loadRackSecret(epoch: Epoch): Result.Result<Option.Option<RackSecret>, LoadRackSecretError> {
    return this.#loader.load(this.ctx, epoch)
  }

  /** The latest committed epoch and its secret, in one step. */
  loadLatestRackSecret(): Result.Result<
    Option.Option<{ readonly epoch: Epoch; readonly secret: RackSecret }>,
    LoadRackSecretError
  > {
    const epoch = PersistentState.latestCommittedEpoch(this.ctx.persistentState)
    if (epoch === undefined) return Result.fail(new NoCommittedConfigurations({}))
    return Result.map(
      this.loadRackSecret(epoch),
      Option.map((secret) => ({ epoch, secret }))
    )
  }

  /** Forgets every loaded secret. */
  clearSecrets(): void {
    this.#loader.clear()
  }

  // ---- connections ----------------------------------------------------------------------------

  onConnect(peer: BaseboardId): void {
    this.ctx.addConnection(peer)
    this.#coordinator?.onConnect(this.ctx, peer)
    this.#computer?.onConnect(this.ctx, peer)
    this.#loader.onConnect(this.ctx, peer)
  }

  onDisconnect(peer: BaseboardId): void {
    this.ctx.removeConnection(peer)
  }

  // ---- peer messages --------------------------------------------------------------------------

  /** Handles a message from `from` (an authenticated peer). */
  handle(from: BaseboardId, msg: PeerMsg): void {
    const state = this.ctx.persistentState
    if (Option.isSome(state.expunged)) return
    const known = PersistentState.rackId(state)
    if (known !== undefined && known !== msg.rackId) return
    const kind = msg.kind
    switch (kind._tag) {
      case "Prepare":
        this.#handlePrepare(from, kind.config, kind.share)
        break
      case "PrepareAck":
        this.#coordinator?.handlePrepareAck(from, kind.epoch)
        break
      case "GetShare":
        this.#handleGetShare(from, kind.epoch)
        break
      case "Share":
        // Coordinator, else key-share computer — and then, always, the loader.
        if (this.#coordinator !== undefined) {
          this.#coordinator.handleShare(this.ctx, from, kind.epoch, kind.share)
        } else if (this.#computer?.handleShare(this.ctx, from, kind.epoch, kind.share)) {
          this.#computer = undefined
        }
        this.#loader.handleShare(this.ctx, from, kind.epoch, kind.share)
        break
      case "Expunged":
        this.#handleExpunged(from, kind.epoch)
        break
      case "CommitAdvance":
        this.#handleCommitAdvance(from.toString(), kind.config)
        break
    }
  }

  // ---- introspection --------------------------------------------------------------------------

  coordinatorStatus(): CoordinatorStatus | undefined {
    return this.#coordinator?.status()
  }

  status(): {
    readonly connectedPeers: ReadonlyArray<BaseboardId>
    readonly alarms: ReadonlyArray<Alarm>
    readonly persistentState: PersistentState.NodePersistentStateSummary
  } {
    return {
      connectedPeers: BaseboardIdModule.sortUnique(this.ctx.connected.values()),
      alarms: this.ctx.alarms,
      persistentState: PersistentState.summary(this.ctx.persistentState)
    }
  }

  coordinating():
    | {
        readonly epoch: Epoch
        readonly op: "CollectShares" | "Prepare"
        readonly ackedPrepares: ReadonlyArray<BaseboardId>
      }
    | undefined {
    const c = this.#coordinator
    return c === undefined ? undefined : { epoch: c.epoch, op: c.op, ackedPrepares: c.ackedPrepares }
  }

  isComputingKeyShare(): boolean {
    return this.#computer !== undefined
  }

  keyShareComputerEpoch(): Epoch | undefined {
    return this.#computer?.epoch
  }

  isCollectingSharesForRackSecret(epoch: Epoch): boolean {
    return this.#loader.isCollecting(epoch)
  }

  // ---- handlers -------------------------------------------------------------------------------

  #handlePrepare(from: BaseboardId, config: Configuration, share: { readonly x: number; readonly y: Uint8Array }) {
    const latest = PersistentState.latestCommittedEpoch(this.ctx.persistentState) ?? 0
    if (latest > config.epoch || !config.isMember(this.id)) return
    this.ctx.updatePersistentState((s) =>
      PersistentState.update(s, (d) => {
        // The share overwrites; an existing configuration is kept (two per epoch cannot happen).
        d.shares.set(config.epoch, copyShare(share))
        if (!d.configs.has(config.epoch)) d.configs.set(config.epoch, config)
      })
    )
    if (this.#coordinator !== undefined && this.#coordinator.epoch < config.epoch) this.#cancelCoordinator()
    this.ctx.send(from, new PrepareAck({ epoch: config.epoch }))
  }

  #handleGetShare(from: BaseboardId, epoch: Epoch): void {
    const state = this.ctx.persistentState
    const committed = PersistentState.latestCommittedConfig(state)
    if (committed !== undefined && committed.epoch > epoch) {
      this.ctx.send(
        from,
        committed.isMember(from)
          ? new CommitAdvance({ config: committed })
          : new ExpungedReply({ epoch: committed.epoch })
      )
      return
    }
    const config = state.configs.get(epoch)
    if (config !== undefined && !config.isMember(from)) {
      this.ctx.send(from, new ExpungedReply({ epoch }))
      return
    }
    // A prepared but uncommitted share is served too: others may have committed while the control plane is down.
    const share = state.shares.get(epoch)
    if (share !== undefined) this.ctx.send(from, new ShareReply({ epoch, share: copyShare(share) }))
  }

  #handleExpunged(from: BaseboardId, epoch: Epoch): void {
    const latest = PersistentState.latestConfig(this.ctx.persistentState)
    // No configuration at all: assume this node was already factory reset. An older epoch: it may have been re-added.
    if (latest === undefined || epoch < latest.epoch) return
    this.ctx.updatePersistentState((s) =>
      PersistentState.update(s, (d) => {
        d.expunged = Option.some(new PersistentState.ExpungedMetadata({ epoch, from }))
      })
    )
    this.#cancelCoordinator()
    this.#cancelComputer()
  }

  /** The shared logic of a peer's CommitAdvance and the control plane's PrepareAndCommit. */
  #handleCommitAdvance(from: string, config: Configuration): void {
    const state = this.ctx.persistentState
    if (!config.isMember(this.id)) return
    const latest = PersistentState.latestCommittedEpoch(state)
    if (latest !== undefined && latest >= config.epoch) return
    let justCommitted = false
    if (PersistentState.hasPrepared(state, config.epoch)) {
      this.ctx.updatePersistentState((s) => PersistentState.update(s, (d) => d.commits.add(config.epoch)))
      justCommitted = true
    } else {
      const existing = state.configs.get(config.epoch)
      if (existing !== undefined && !ConfigurationModule.equals(existing, config)) {
        this.ctx.raiseAlarm(new MismatchedConfigurations({ config1: existing, config2: config, from }))
        return
      }
      if (existing === undefined) {
        this.ctx.updatePersistentState((s) => PersistentState.update(s, (d) => d.configs.set(config.epoch, config)))
      }
    }
    if (this.#coordinator !== undefined && this.#coordinator.epoch <= config.epoch) this.#cancelCoordinator()
    const computer = this.#computer
    if (computer !== undefined) {
      if (computer.epoch > config.epoch) return
      if (computer.epoch === config.epoch) {
        if (justCommitted) this.#cancelComputer()
        return
      }
      this.#cancelComputer()
    }
    if (!justCommitted) this.#computer = KeyShareComputer.start(this.ctx, config)
  }

  #expungedError(): Expunged {
    const expunged = Option.getOrThrow(this.ctx.persistentState.expunged)
    return new Expunged({ epoch: expunged.epoch, from: expunged.from.toString() })
  }

  #cancelCoordinator(): void {
    this.#coordinator?.dispose()
    this.#coordinator = undefined
  }

  #cancelComputer(): void {
    this.#computer?.dispose()
    this.#computer = undefined
  }
}
