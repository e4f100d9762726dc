/**
 * The coordinator of one reconfiguration. It draws the new configuration and shares; for a rack with a
 * committed configuration it first collects K shares of that (old) epoch to recover the old secret and
 * the chain of prior secrets, encrypts the chain under the new secret, and only then persists its own
 * share and the final configuration; it then sends `Prepare` to every other member and gathers
 * acknowledgements until the control plane commits.
 *
 * A first configuration (nothing committed yet) has no chain and persists at once. While collecting,
 * nothing is persisted and the configuration has no encrypted secrets: a crash then loses nothing that
 * was promised. There are no timers: GetShare and Prepare are re-sent to a peer whenever it connects.
 */
import { Option, Result } from "effect"
import * as PriorSecrets from "../crypto/PriorSecrets.ts"
import { RackSecret } from "../crypto/RackSecret.ts"
import * as Gfss from "../gfss/Gfss.ts"
import type { Rng } from "../gfss/Rng.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import {
  Configuration,
  type ConfigurationError,
  EncryptedRackSecrets,
  newConfiguration
} from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import { Prepare } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import * as RackId from "../types/RackId.ts"
import type { ReconfigureMsg } from "../types/Request.ts"
import { CoordinatorStatus } from "../types/Status.ts"
import type { DropReason, NodeCtx } from "./NodeCtx.ts"
import { askForShare } from "./ShareResponder.ts"
import { type ShareOutcome, validateShare } from "./Validation.ts"

/** Collecting shares of the last committed (old) configuration. */
interface CollectShares {
  readonly _tag: "CollectShares"
  readonly oldConfig: Configuration
  /** The node's own persisted share of the old epoch: counted, never zeroed here. */
  readonly own: Gfss.Share | undefined
  /** Validated copies of the peers' old shares, by member key; zeroed when no longer needed. */
  readonly collected: Map<string, Gfss.Share>
}

/** Handing out the new shares and gathering acknowledgements. */
interface Preparing {
  readonly _tag: "Prepare"
  /** Members other than self whose prepare is not acknowledged yet. */
  readonly pending: Map<string, BaseboardId.BaseboardId>
  /** Members whose prepare is durable, self included. */
  readonly acks: Map<string, BaseboardId.BaseboardId>
}

/** The state of a node coordinating one reconfiguration. */
export class Coordinator {
  readonly msg: ReconfigureMsg
  #config: Configuration
  #op: CollectShares | Preparing
  /**
   * The new shares this coordinator still owes, by member key: all N while collecting, then the
   * unacknowledged members' shares. Each is zeroed once acknowledged or when coordination stops; the
   * own share leaves this map when it is persisted.
   */
  readonly #newShares: Map<string, Gfss.Share>
  readonly #rng: Rng | undefined

  private constructor(
    msg: ReconfigureMsg,
    config: Configuration,
    op: CollectShares | Preparing,
    newShares: Map<string, Gfss.Share>,
    rng: Rng | undefined
  ) {
    this.msg = msg
    this.#config = config
    this.#op = op
    this.#newShares = newShares
    this.#rng = rng
  }

  get epoch(): Epoch {
    return this.msg.epoch
  }

  get op(): "CollectShares" | "Prepare" {
    return this.#op._tag
  }

  /** The configuration being coordinated; without encrypted secrets (and not persisted) while collecting. */
  get config(): Configuration {
    return this.#config
  }

  /** The epoch whose shares are being collected, while collecting. */
  get oldEpoch(): Epoch | undefined {
    return this.#op._tag === "CollectShares" ? this.#op.oldConfig.epoch : undefined
  }

  /** Members whose prepare is durable, in bytewise order; empty while collecting. */
  get ackedPrepares(): ReadonlyArray<BaseboardId.BaseboardId> {
    return this.#op._tag === "Prepare" ? BaseboardId.sortUnique(this.#op.acks.values()) : []
  }

  status(): CoordinatorStatus {
    return new CoordinatorStatus({ config: this.#config, ackedPrepares: this.ackedPrepares })
  }

  /**
   * Starts coordinating `msg` (already validated) at `ctx.id`. A node with nothing committed persists its
   * share and the configuration at once and prepares; otherwise it asks the connected members of the
   * last committed configuration for their shares.
   */
  static start(
    ctx: NodeCtx,
    msg: ReconfigureMsg,
    rng: Rng | undefined
  ): Result.Result<Coordinator, ConfigurationError> {
    const created = newConfiguration(
      {
        rackId: msg.rackId,
        epoch: msg.epoch,
        members: msg.members,
        threshold: msg.threshold,
        coordinator: ctx.id,
        authorization: { lastCommittedEpoch: msg.lastCommittedEpoch, signature: msg.signature }
      },
      rng
    )
    if (Result.isFailure(created)) return Result.fail(created.failure)
    const { configuration, shares } = created.success
    const newShares = new Map(shares)
    const state = ctx.persistentState
    const oldConfig = PersistentState.latestCommittedConfig(state)
    if (oldConfig === undefined) {
      const coordinator = new Coordinator(msg, configuration, preparing(), newShares, rng)
      coordinator.#enterPrepare(ctx)
      return Result.succeed(coordinator)
    }
    const collect: CollectShares = {
      _tag: "CollectShares",
      oldConfig,
      // A commit implies the share (the persistent state's invariant); without it, K peers are needed.
      own: state.shares.get(oldConfig.epoch),
      collected: new Map()
    }
    const coordinator = new Coordinator(msg, configuration, collect, newShares, rng)
    for (const peer of ctx.connected.values()) coordinator.onConnect(ctx, peer)
    return Result.succeed(coordinator)
  }

  /** Sends what this coordinator owes `peer`: GetShare while collecting, its Prepare until it acknowledges. */
  onConnect(ctx: NodeCtx, peer: BaseboardId.BaseboardId): void {
    const op = this.#op
    if (op._tag === "CollectShares") {
      if (op.oldConfig.isMember(peer) && !BaseboardId.equals(peer, ctx.id) && !op.collected.has(peer.key)) {
        askForShare(ctx, peer, op.oldConfig.epoch)
      }
      return
    }
    const share = op.pending.has(peer.key) ? this.#newShares.get(peer.key) : undefined
    // A copy: the envelope outlives this call, and this coordinator zeroes its shares on acknowledgement.
    if (share !== undefined) ctx.send(peer, new Prepare({ config: this.#config, share: Gfss.copyShare(share) }))
  }

  /**
   * A share arrived. Only a collecting coordinator uses it: validated against the old configuration, a
   * duplicate replaces the earlier copy without counting twice, and the K-th share finishes collection.
   */
  handleShare(ctx: NodeCtx, from: BaseboardId.BaseboardId, epoch: Epoch, share: Gfss.Share): ShareOutcome {
    const op = this.#op
    if (op._tag !== "CollectShares") return "ShareNotCollecting"
    const valid = validateShare(op.oldConfig, from, epoch, share)
    if (Result.isFailure(valid)) return valid.failure
    if (BaseboardId.equals(from, ctx.id) && op.own !== undefined) return "ShareDuplicate"
    const previous = op.collected.get(from.key)
    op.collected.set(from.key, Gfss.copyShare(share))
    if (previous !== undefined) {
      Gfss.zeroShare(previous)
      return "ShareDuplicate"
    }
    this.#tryFinishCollection(ctx)
    return "Collected"
  }

  /** A member acknowledged the prepare of `epoch`; its share is no longer needed and is zeroed. */
  handlePrepareAck(from: BaseboardId.BaseboardId, epoch: Epoch): DropReason | undefined {
    const op = this.#op
    if (op._tag !== "Prepare") return "AckNotPreparing"
    if (epoch !== this.epoch) return "AckWrongEpoch"
    if (!this.#config.isMember(from)) return "AckNotAMember"
    op.pending.delete(from.key)
    const share = this.#newShares.get(from.key)
    if (share !== undefined) Gfss.zeroShare(share)
    this.#newShares.delete(from.key)
    op.acks.set(from.key, from)
    return undefined
  }

  /** Stops coordinating: zeroes every share it still holds (never the persisted own shares). */
  dispose(): void {
    for (const share of this.#newShares.values()) Gfss.zeroShare(share)
    this.#newShares.clear()
    const op = this.#op
    if (op._tag === "CollectShares") {
      for (const share of op.collected.values()) Gfss.zeroShare(share)
      op.collected.clear()
    } else {
      op.pending.clear()
    }
  }

  /**
   * With K old shares: recover the old secret and its chain, encrypt the chain plus the old secret under
   * the new secret, persist, and prepare. A failure only leaves the coordinator collecting (the original
   * logs it): a later share retries, and the control plane may abort the epoch.
   */
  #tryFinishCollection(ctx: NodeCtx): void {
    const op = this.#op
    if (op._tag !== "CollectShares") return
    const oldShares = Array.from(op.collected.values())
    if (op.own !== undefined) oldShares.push(op.own)
    if (oldShares.length < op.oldConfig.threshold) return
    const oldSecret = RackSecret.reconstruct(oldShares)
    if (Result.isFailure(oldSecret)) return
    const chain = new Map<number, RackSecret>()
    const encrypted = op.oldConfig.encryptedRackSecrets
    if (Option.isSome(encrypted)) {
      const decrypted = PriorSecrets.decrypt({
        secret: oldSecret.success,
        rackId: RackId.toBytes(op.oldConfig.rackId),
        epoch: op.oldConfig.epoch,
        salt: encrypted.value.salt,
        data: encrypted.value.data
      })
      if (Result.isFailure(decrypted)) {
        oldSecret.success.dispose()
        return
      }
      for (const [epoch, secret] of decrypted.success) chain.set(epoch, secret)
    }
    chain.get(op.oldConfig.epoch)?.dispose()
    chain.set(op.oldConfig.epoch, oldSecret.success)
    const newSecret = RackSecret.reconstruct(Array.from(this.#newShares.values()))
    if (Result.isFailure(newSecret)) {
      for (const secret of chain.values()) secret.dispose()
      return
    }
    const { salt, data } = PriorSecrets.encrypt({
      secret: newSecret.success,
      rackId: RackId.toBytes(this.#config.rackId),
      epoch: this.epoch,
      prior: chain,
      ...(this.#rng === undefined ? {} : { rng: this.#rng })
    })
    newSecret.success.dispose()
    for (const secret of chain.values()) secret.dispose()
    for (const share of op.collected.values()) Gfss.zeroShare(share)
    op.collected.clear()
    this.#config = new Configuration({
      rackId: this.#config.rackId,
      epoch: this.#config.epoch,
      coordinator: this.#config.coordinator,
      members: this.#config.members,
      threshold: this.#config.threshold,
      encryptedRackSecrets: Option.some(new EncryptedRackSecrets({ salt, data })),
      authorization: this.#config.authorization
    })
    this.#enterPrepare(ctx)
  }

  /** Persists the own share and the final configuration, then sends Prepare to every connected member. */
  #enterPrepare(ctx: NodeCtx): void {
    const config = this.#config
    const own = this.#newShares.get(ctx.id.key)
    this.#newShares.delete(ctx.id.key)
    ctx.updatePersistentState((s) =>
      PersistentState.update(s, (d) => {
        if (own !== undefined) d.shares.set(config.epoch, own)
        // Configurations are insert-only; validation guaranteed this epoch is new.
        if (!d.configs.has(config.epoch)) d.configs.set(config.epoch, config)
      })
    )
    const op = preparing()
    op.acks.set(ctx.id.key, ctx.id)
    for (const id of config.memberIds) if (!BaseboardId.equals(id, ctx.id)) op.pending.set(id.key, id)
    this.#op = op
    for (const peer of ctx.connected.values()) this.onConnect(ctx, peer)
  }
}

const preparing = (): Preparing => ({ _tag: "Prepare", pending: new Map(), acks: new Map() })
