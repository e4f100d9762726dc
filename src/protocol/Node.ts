/**
 * The sans-io trust-quorum protocol node: the control plane's operations (reconfigure, commit,
 * prepare-and-commit, load a rack secret) and the dispatch of every peer message, as synchronous
 * functions over the node's context. It never reads clocks, sockets or files; randomness comes only from
 * the injected `Rng`, so a seeded run is deterministic. After every call the caller checks the dirty flag
 * (persisting if set), replies, and only then sends the drained envelopes.
 *
 * Improvements over the original (omicron), all typed outcomes where the original logs and leaves the
 * control plane polling `Pending` forever:
 * - `prepareAndCommit` fails with `NotAMember{epoch}` when this node is not in `config.members`, and
 *   with `Superseded{epoch, latestCommitted}` when it already committed a newer epoch than
 *   `config.epoch` (an epoch it committed itself answers `Committed`);
 * - `commitConfiguration` of an epoch older than the latest commit that was never committed here fails
 *   with `Superseded` too (a duplicate commit still answers `Committed`).
 * A peer's CommitAdvance keeps the original behaviour in those cases: it is ignored (see `ctx.dropped`).
 * `loadRackSecret` hands out a copy of the secret that the caller owns, so `clearSecrets` never zeroes a
 * secret a caller is still using.
 *
 * And the authority rules the original does not need (its peers are attested hardware): every decision
 * carries the control plane's signature, checked against the `authority` key the node pins — a
 * reconfiguration, a commit (local or proxied), a peer's `Prepare`, `CommitAdvance` and `Expunged` —
 * along with bounds, epochs and share ownership (see `Policy` for the named checks). A refused peer
 * message is recorded in `ctx` with its reason; a refused control-plane request fails with
 * `NotAuthorized`.
 */
import { Option, Result } from "effect"
import type { PublicKey, Signature } from "../crypto/AuthorityKey.ts"
import type { RackSecret } from "../crypto/RackSecret.ts"
import type { Rng } from "../gfss/Rng.ts"
import type { Alarm } from "../types/Alarm.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import type { PeerMsg } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import {
  type CommitError,
  type LoadRackSecretError,
  NoCommittedConfigurations,
  type PrepareAndCommitError,
  type ReconfigurationError
} from "../types/ProtocolError.ts"
import type { RackId } from "../types/RackId.ts"
import type { ReconfigureMsg } from "../types/Request.ts"
import type { CommitStatus, CoordinatorStatus } from "../types/Status.ts"
import { advanceCommit, receiveCommitAdvance } from "./CommitAdvance.ts"
import { Coordinator } from "./Coordinator.ts"
import { receiveExpunged } from "./Expungement.ts"
import { NodeCtx } from "./NodeCtx.ts"
import { type Check, Policy } from "./Policy.ts"
import { receivePrepare } from "./PrepareReceiver.ts"
import { Roles } from "./Roles.ts"
import { answerGetShare } from "./ShareResponder.ts"
import { type ShareOutcome, validateCommit, validatePrepareAndCommit, validateReconfiguration } from "./Validation.ts"

/** What a node reports about itself (the runtime adds the proxied-request count). */
export interface NodeStatusSummary {
  readonly connectedPeers: ReadonlyArray<BaseboardId.BaseboardId>
  readonly alarms: ReadonlyArray<Alarm>
  readonly persistentState: PersistentState.NodePersistentStateSummary
}

/** A coordinator's phase, for invariants and tests. */
export interface Coordinating {
  readonly epoch: Epoch
  readonly op: "CollectShares" | "Prepare"
  readonly ackedPrepares: ReadonlyArray<BaseboardId.BaseboardId>
}

/** A protocol node. All methods are synchronous; the caller persists, replies, then sends (see NodeCtx). */
export class Node {
  readonly id: BaseboardId.BaseboardId
  readonly ctx: NodeCtx
  readonly #rng: Rng | undefined
  readonly #roles = new Roles()

  constructor(options: {
    readonly id: BaseboardId.BaseboardId
    /** The control plane's public key: every decision this node acts on must be signed by it. */
    readonly authority: PublicKey
    readonly persistentState?: PersistentState.PersistentState
    readonly rng?: Rng
    /** Checks to switch off — for mutation testing of the adversarial simulation only, never in a node. */
    readonly unsafeSkipChecks?: ReadonlySet<Check>
  }) {
    this.id = options.id
    this.ctx = new NodeCtx(
      options.id,
      options.persistentState ?? PersistentState.empty,
      new Policy(options.authority, options.unsafeSkipChecks)
    )
    this.#rng = options.rng
  }

  // ---- control-plane operations -------------------------------------------------------------

  /**
   * Starts coordinating a reconfiguration at this node. The same request while still collecting shares
   * is a no-op; once the configuration is persisted a retry fails with `PreparedEpochMismatch`, which
   * the control plane must read as "already in progress".
   */
  coordinateReconfiguration(msg: ReconfigureMsg): Result.Result<void, ReconfigurationError> {
    const roles = this.#roles
    const checked = validateReconfiguration(
      this.id,
      this.ctx.policy,
      this.ctx.persistentState,
      msg,
      roles.coordinator?.msg
    )
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
    if (checked.success === "Idempotent") return Result.void
    // Defensive, as in the original: valid control-plane behaviour never reconfigures during a computation.
    roles.cancelComputer()
    const started = Coordinator.start(this.ctx, msg, this.#rng)
    if (Result.isFailure(started)) return Result.fail(started.failure)
    roles.cancelCoordinator()
    roles.coordinator = started.success
    return Result.void
  }

  /**
   * Commits `epoch`, which this node must have prepared, given the control plane's commit signature over
   * the configuration it stored (`proof`); ends the coordination of that epoch.
   */
  commitConfiguration(rackId: RackId, epoch: Epoch, proof: Signature): Result.Result<CommitStatus, CommitError> {
    const checked = validateCommit(this.ctx.policy, this.ctx.persistentState, rackId, epoch, proof)
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
    if (checked.success === "AlreadyCommitted") return Result.succeed("Committed")
    this.ctx.updatePersistentState((s) =>
      PersistentState.update(s, (d) => {
        d.commits.add(epoch)
        d.proofs.set(epoch, proof)
      })
    )
    // A key-share computer of an older epoch is left alone: commits form a set, so its later commit is harmless.
    if (this.#roles.coordinator?.epoch === epoch) this.#roles.cancelCoordinator()
    return Result.succeed("Committed")
  }

  /**
   * Commits `config` at a member that may have missed its prepare. `Committed` when the epoch is
   * committed after the call; `Pending` while the node rebuilds its share from K peers (call again).
   */
  prepareAndCommit(config: Configuration, proof: Signature): Result.Result<CommitStatus, PrepareAndCommitError> {
    const checked = validatePrepareAndCommit(this.id, this.ctx.policy, this.ctx.persistentState, config, proof)
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
    if (checked.success === "AlreadyCommitted") return Result.succeed("Committed")
    advanceCommit(this.ctx, this.#roles, "Nexus", config, proof)
    return Result.succeed(this.ctx.persistentState.commits.has(config.epoch) ? "Committed" : "Pending")
  }

  /**
   * The secret of a committed `epoch` (a copy the caller owns and should dispose), none while shares are
   * being collected (call again), or why it cannot be had. Works on an expunged node too.
   */
  loadRackSecret(epoch: Epoch): Result.Result<Option.Option<RackSecret>, LoadRackSecretError> {
    return this.#roles.loader.load(this.ctx, epoch)
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

  /** Forgets (and zeroes) every loaded secret and stops collecting. */
  clearSecrets(): void {
    this.#roles.loader.clear()
  }

  // ---- connections ----------------------------------------------------------------------------

  /** A link to `peer` came up: every role re-sends what it owes that peer. Safe to call twice. */
  onConnect(peer: BaseboardId.BaseboardId): void {
    this.ctx.addConnection(peer)
    this.#roles.coordinator?.onConnect(this.ctx, peer)
    this.#roles.computer?.onConnect(this.ctx, peer)
    this.#roles.loader.onConnect(this.ctx, peer)
  }

  /** The link to `peer` went down. Nothing is cancelled: the next `onConnect` resends. */
  onDisconnect(peer: BaseboardId.BaseboardId): void {
    this.ctx.removeConnection(peer)
  }

  // ---- peer messages --------------------------------------------------------------------------

  /** Handles a message from `from` (the identity of the authenticated link, not a message field). */
  handle(from: BaseboardId.BaseboardId, msg: PeerMsg): void {
    const ctx = this.ctx
    const kind = msg.kind
    const drop = this.#dispatch(from, msg)
    if (drop !== undefined) ctx.recordDrop(from, kind._tag, drop)
  }

  #dispatch(from: BaseboardId.BaseboardId, msg: PeerMsg) {
    const ctx = this.ctx
    const roles = this.#roles
    const state = ctx.persistentState
    if (PersistentState.isExpunged(state)) return "Expunged"
    const known = PersistentState.rackId(state)
    if (known !== undefined && known !== msg.rackId) return "RackIdMismatch"
    const kind = msg.kind
    // A configuration names its rack too; it must be the rack the message claims.
    if ("config" in kind && kind.config.rackId !== msg.rackId) return "ConfigurationForAnotherRack"
    switch (kind._tag) {
      case "Prepare":
        return receivePrepare(ctx, roles, from, kind.config, kind.share)
      case "PrepareAck":
        return roles.coordinator === undefined
          ? "AckNotCoordinating"
          : roles.coordinator.handlePrepareAck(from, kind.epoch)
      case "GetShare": {
        const reply = answerGetShare(ctx.policy, state, from, kind.epoch, kind.proof)
        if (typeof reply === "string") return reply
        ctx.send(from, reply)
        return undefined
      }
      case "Share": {
        // The coordinator, else the key-share computer — and then, always, the loader.
        let first: ShareOutcome | undefined
        if (roles.coordinator !== undefined) {
          first = roles.coordinator.handleShare(ctx, from, kind.epoch, kind.share)
        } else if (roles.computer !== undefined) {
          const { outcome, done } = roles.computer.handleShare(ctx, from, kind.epoch, kind.share)
          if (done) roles.computer = undefined
          first = outcome
        }
        const second = roles.loader.handleShare(ctx, from, kind.epoch, kind.share)
        return shareDrop(first, second)
      }
      case "Expunged":
        return receiveExpunged(ctx, roles, from, kind.config, kind.proof)
      case "CommitAdvance":
        return receiveCommitAdvance(ctx, roles, from, kind.config, kind.proof)
    }
  }

  // ---- introspection --------------------------------------------------------------------------

  /** The coordinator's configuration and acknowledged prepares, while coordinating. */
  coordinatorStatus(): CoordinatorStatus | undefined {
    return this.#roles.coordinator?.status()
  }

  status(): NodeStatusSummary {
    return {
      connectedPeers: BaseboardId.sortUnique(this.ctx.connected.values()),
      alarms: this.ctx.alarms,
      persistentState: PersistentState.summary(this.ctx.persistentState)
    }
  }

  coordinating(): Coordinating | undefined {
    const c = this.#roles.coordinator
    return c === undefined ? undefined : { epoch: c.epoch, op: c.op, ackedPrepares: c.ackedPrepares }
  }

  isComputingKeyShare(): boolean {
    return this.#roles.computer !== undefined
  }

  keyShareComputerEpoch(): Epoch | undefined {
    return this.#roles.computer?.epoch
  }

  /** True iff the loader collects shares for `epoch` or a later one. */
  isCollectingSharesForRackSecret(epoch: Epoch): boolean {
    return this.#roles.loader.isCollecting(epoch)
  }

  /** The epochs whose secrets are loaded in memory, ascending. */
  loadedEpochs(): ReadonlyArray<Epoch> {
    return this.#roles.loader.loadedEpochs
  }
}

/** A share counts as dropped only if no role collected it; a validation failure is the more telling reason. */
const shareDrop = (first: ShareOutcome | undefined, second: ShareOutcome) => {
  if (first === "Collected" || second === "Collected") return undefined
  if (first !== undefined && first !== "ShareNotCollecting") return first
  return second
}
