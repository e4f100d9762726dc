/**
 * The coordinator of one reconfiguration: it generates the new configuration and shares, collects K
 * shares of the last committed epoch (to recover the old secret and encrypt the chain of prior
 * secrets under the new one), persists its own share and the final configuration, then sends
 * `Prepare` to every other member and gathers acknowledgements until the control plane commits.
 *
 * A first configuration (nothing committed yet) skips collection and persists at once. While
 * collecting, nothing is persisted and the configuration has no encrypted secrets. Prepares are re-sent
 * to unacknowledged members whenever they connect; there are no timers.
 */
import { Option, Result } from "effect"
import * as PriorSecrets from "../crypto/PriorSecrets.ts"
import { RackSecret } from "../crypto/RackSecret.ts"
import { copyShare, type Share } from "../gfss/Gfss.ts"
import type { Rng } from "../gfss/Rng.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as BaseboardIdModule from "../types/BaseboardId.ts"
import {
  Configuration,
  type ConfigurationError,
  EncryptedRackSecrets,
  newConfiguration
} from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import { GetShare, Prepare } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import * as RackIdModule from "../types/RackId.ts"
import type { ReconfigureMsg } from "../types/Request.ts"
import { CoordinatorStatus } from "../types/Status.ts"
import type { NodeCtx } from "./NodeCtx.ts"
import { isValidShare } from "./Validation.ts"

interface CollectShares {
  readonly _tag: "CollectShares"
  readonly oldConfig: Configuration
  /** Validated shares of the old epoch by member key, own share included. */
  readonly collected: Map<string, Share>
}

interface Preparing {
  readonly _tag: "Prepare"
  /** Members other than self that have not acknowledged yet, with their shares. */
  readonly pending: Map<string, { readonly id: BaseboardId; readonly share: Share }>
  /** Members whose prepare is durable, self included. */
  readonly acks: Map<string, BaseboardId>
}

/** The state of a node coordinating one reconfiguration. */
export class Coordinator {
  readonly msg: ReconfigureMsg
  #config: Configuration
  #op: CollectShares | Preparing
  /** The new shares by member key; emptied of each share once it is persisted or sent for good. */
  readonly #newShares: Map<string, Share>
  readonly #rng: Rng | undefined

  private constructor(
    msg: ReconfigureMsg,
    config: Configuration,
    op: CollectShares | Preparing,
    newShares: Map<string, Share>,
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

  get config(): Configuration {
    return this.#config
  }

  get ackedPrepares(): ReadonlyArray<BaseboardId> {
    return this.#op._tag === "Prepare" ? BaseboardIdModule.sortUnique(this.#op.acks.values()) : []
  }

  status(): CoordinatorStatus {
    return new CoordinatorStatus({ config: this.#config, ackedPrepares: this.ackedPrepares })
  }

  /**
   * Starts coordinating: a node with nothing committed persists its share and the configuration at
   * once; otherwise it first collects K shares of the last committed configuration.
   */
  static start(
    ctx: NodeCtx,
    msg: ReconfigureMsg,
    rng: Rng | undefined
  ): Result.Result<Coordinator, ConfigurationError> {
    const created = newConfiguration(
      { rackId: msg.rackId, epoch: msg.epoch, members: msg.members, threshold: msg.threshold, coordinator: ctx.id },
      rng
    )
    if (Result.isFailure(created)) return Result.fail(created.failure)
    const { configuration, shares } = created.success
    const newShares = new Map(shares)
    const lastCommitted = PersistentState.latestCommittedConfig(ctx.persistentState)
    const ownOld = lastCommitted === undefined ? undefined : ctx.persistentState.shares.get(lastCommitted.epoch)
    if (lastCommitted === undefined || ownOld === undefined) {
      const coordinator = new Coordinator(msg, configuration, emptyPreparing(), newShares, rng)
      coordinator.#enterPrepare(ctx)
      return Result.succeed(coordinator)
    }
    const collect: CollectShares = {
      _tag: "CollectShares",
      oldConfig: lastCommitted,
      collected: new Map([[ctx.id.key, ownOld]])
    }
    const coordinator = new Coordinator(msg, configuration, collect, newShares, rng)
    for (const peer of ctx.connected.values()) coordinator.onConnect(ctx, peer)
    // K may be reached by the own share alone only if K ≤ 1, which validation excludes; still, check.
    coordinator.#tryFinishCollection(ctx)
    return Result.succeed(coordinator)
  }

  /** Re-sends what this coordinator owes `peer`: a GetShare while collecting, the Prepare while unacknowledged. */
  onConnect(ctx: NodeCtx, peer: BaseboardId): void {
    const op = this.#op
    if (op._tag === "CollectShares") {
      if (op.oldConfig.isMember(peer) && !op.collected.has(peer.key)) {
        ctx.send(peer, new GetShare({ epoch: op.oldConfig.epoch }))
      }
      return
    }
    const pending = op.pending.get(peer.key)
    // A copy: the message may outlive this coordinator, which zeroes its shares when it stops.
    if (pending !== undefined) ctx.send(peer, new Prepare({ config: this.#config, share: copyShare(pending.share) }))
  }

  /** A share of the old epoch arrived while collecting. */
  handleShare(ctx: NodeCtx, from: BaseboardId, epoch: Epoch, share: Share): void {
    const op = this.#op
    if (op._tag !== "CollectShares") return
    if (!isValidShare(op.oldConfig, from, epoch, share)) return
    const already = op.collected.has(from.key)
    op.collected.set(from.key, copyShare(share))
    if (already) return
    this.#tryFinishCollection(ctx)
  }

  /** A member acknowledged the prepare of `epoch`. */
  handlePrepareAck(from: BaseboardId, epoch: Epoch): void {
    const op = this.#op
    if (op._tag !== "Prepare" || epoch !== this.epoch || !this.#config.isMember(from)) return
    op.pending.delete(from.key)
    op.acks.set(from.key, from)
  }

  /** Stops coordinating: zeroes the shares it still holds. */
  dispose(): void {
    for (const share of this.#newShares.values()) share.y.fill(0)
    this.#newShares.clear()
    if (this.#op._tag === "Prepare") this.#op.pending.clear()
  }

  #tryFinishCollection(ctx: NodeCtx): void {
    const op = this.#op
    if (op._tag !== "CollectShares" || op.collected.size < op.oldConfig.threshold) return
    const oldSecret = RackSecret.reconstruct(Array.from(op.collected.values()))
    // A failure here is only logged in the original and collection continues: a later share retries.
    if (Result.isFailure(oldSecret)) return
    const oldEpoch = op.oldConfig.epoch
    const chain = new Map<number, RackSecret>()
    const encrypted = op.oldConfig.encryptedRackSecrets
    if (Option.isSome(encrypted)) {
      const decrypted = PriorSecrets.decrypt({
        secret: oldSecret.success,
        rackId: RackIdModule.toBytes(op.oldConfig.rackId),
        epoch: oldEpoch,
        salt: encrypted.value.salt,
        data: encrypted.value.data
      })
      if (Result.isFailure(decrypted)) {
        oldSecret.success.dispose()
        return
      }
      for (const [e, s] of decrypted.success) chain.set(e, s)
    }
    chain.set(oldEpoch, oldSecret.success)
    const newSecret = RackSecret.reconstruct(Array.from(this.#newShares.values()))
    if (Result.isFailure(newSecret)) {
      for (const s of chain.values()) s.dispose()
      return
    }
    const { salt, data } = PriorSecrets.encrypt({
      secret: newSecret.success,
      rackId: RackIdModule.toBytes(this.#config.rackId),
      epoch: this.epoch,
      prior: chain,
      ...(this.#rng ? { rng: this.#rng } : {})
    })
    newSecret.success.dispose()
    for (const s of chain.values()) s.dispose()
    // The peers' shares are copies; the own entry is the persisted share and must survive.
    for (const [key, s] of op.collected) if (key !== ctx.id.key) s.y.fill(0)
    this.#config = new Configuration({
      rackId: this.#config.rackId,
      epoch: this.#config.epoch,
      coordinator: this.#config.coordinator,
      members: this.#config.members,
      threshold: this.#config.threshold,
      encryptedRackSecrets: Option.some(new EncryptedRackSecrets({ salt, data }))
    })
    this.#op = emptyPreparing()
    this.#enterPrepare(ctx)
  }

  /** Persists own share and the final configuration, then sends Prepare to every connected member. */
  #enterPrepare(ctx: NodeCtx): void {
    const config = this.#config
    const own = this.#newShares.get(ctx.id.key)
    ctx.updatePersistentState((s) =>
      PersistentState.update(s, (d) => {
        if (own !== undefined) d.shares.set(config.epoch, own)
        if (!d.configs.has(config.epoch)) d.configs.set(config.epoch, config)
      })
    )
    const op = emptyPreparing()
    op.acks.set(ctx.id.key, ctx.id)
    for (const id of config.memberIds) {
      const share = this.#newShares.get(id.key)
      if (!BaseboardIdModule.equals(id, ctx.id) && share !== undefined) op.pending.set(id.key, { id, share })
    }
    this.#newShares.delete(ctx.id.key)
    this.#op = op
    for (const peer of ctx.connected.values()) this.onConnect(ctx, peer)
  }
}

const emptyPreparing = (): Preparing => ({ _tag: "Prepare", pending: new Map(), acks: new Map() })
