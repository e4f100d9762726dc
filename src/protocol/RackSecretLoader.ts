/**
 * The rack-secret loader: reconstructs the secret of the latest committed epoch from K members' shares
 * and, by decrypting that configuration's chain of prior secrets, every older committed epoch's too.
 *
 * Loading is asynchronous by polling: the first `load` starts a collector and returns none; later
 * calls return the secret once K validated shares arrived. All loaded secrets stay in memory until
 * `clear`. A failure to reconstruct or decrypt from validated shares raises an alarm.
 */
import { Option, Result } from "effect"
import * as PriorSecrets from "../crypto/PriorSecrets.ts"
import { RackSecret } from "../crypto/RackSecret.ts"
import { copyShare, type Share } from "../gfss/Gfss.ts"
import {
  CommittedConfigurationLost,
  RackSecretDecryptionFailed,
  RackSecretReconstructionFailed
} from "../types/Alarm.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import { GetShare } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import {
  AlarmRaised,
  type LoadRackSecretError,
  NoCommittedConfigurations,
  NotAvailable,
  NotCommitted
} from "../types/ProtocolError.ts"
import * as RackIdModule from "../types/RackId.ts"
import type { NodeCtx } from "./NodeCtx.ts"
import { isValidShare } from "./Validation.ts"

interface Collector {
  readonly config: Configuration
  /** Shares by member key; the node's own entry is its persisted share and is never zeroed here. */
  readonly collected: Map<string, Share>
  readonly ownKey: string
}

/** Loads and keeps rack secrets. */
export class RackSecretLoader {
  #loaded = new Map<Epoch, RackSecret>()
  #collector: Collector | undefined

  /** True iff a collector runs for `epoch` or a later one. */
  isCollecting(epoch: Epoch): boolean {
    return this.#collector !== undefined && this.#collector.config.epoch >= epoch
  }

  get collectingEpoch(): Epoch | undefined {
    return this.#collector?.config.epoch
  }

  /** The secret of `epoch`, none while collecting, or why it cannot be had. */
  load(ctx: NodeCtx, epoch: Epoch): Result.Result<Option.Option<RackSecret>, LoadRackSecretError> {
    const loaded = this.#loaded.get(epoch)
    if (loaded !== undefined) return Result.succeed(Option.some(loaded))
    const state = ctx.persistentState
    const latest = PersistentState.latestCommittedEpoch(state)
    if (latest === undefined) return Result.fail(new NoCommittedConfigurations({}))
    if (epoch > latest) return Result.fail(new NotCommitted({ epoch }))
    if (this.#loaded.has(latest)) return Result.fail(new NotAvailable({ epoch }))
    const collecting = this.#collector?.config.epoch
    if (collecting !== undefined && collecting > latest) {
      const alarm = new CommittedConfigurationLost({ latestCommittedEpoch: latest, collectingEpoch: collecting })
      ctx.raiseAlarm(alarm)
      return Result.fail(new AlarmRaised({ alarm }))
    }
    if (collecting === latest) return Result.succeed(Option.none())
    const config = state.configs.get(latest)
    const own = state.shares.get(latest)
    if (config === undefined || own === undefined) return Result.fail(new NotCommitted({ epoch: latest }))
    this.#dropCollector()
    const collector: Collector = { config, collected: new Map([[ctx.id.key, own]]), ownKey: ctx.id.key }
    this.#collector = collector
    for (const peer of ctx.connected.values()) this.onConnect(ctx, peer)
    this.#tryReconstruct(ctx)
    return Result.succeed(Option.fromNullishOr(this.#loaded.get(epoch)))
  }

  /** Asks a newly connected member for its share — again, even if it already answered. */
  onConnect(ctx: NodeCtx, peer: BaseboardId): void {
    const collector = this.#collector
    if (collector?.config.isMember(peer)) {
      ctx.send(peer, new GetShare({ epoch: collector.config.epoch }))
    }
  }

  handleShare(ctx: NodeCtx, from: BaseboardId, epoch: Epoch, share: Share): void {
    if (this.#loaded.has(epoch)) return
    const collector = this.#collector
    if (collector === undefined || !isValidShare(collector.config, from, epoch, share)) return
    if (collector.collected.has(from.key)) return
    collector.collected.set(from.key, copyShare(share))
    this.#tryReconstruct(ctx)
  }

  /** Forgets every loaded secret (zeroed) and stops collecting. */
  clear(): void {
    for (const secret of this.#loaded.values()) secret.dispose()
    this.#loaded = new Map()
    this.#dropCollector()
  }

  #tryReconstruct(ctx: NodeCtx): void {
    const collector = this.#collector
    if (collector === undefined || collector.collected.size < collector.config.threshold) return
    const { config } = collector
    const secret = RackSecret.reconstruct(Array.from(collector.collected.values()))
    if (Result.isFailure(secret)) {
      ctx.raiseAlarm(new RackSecretReconstructionFailed({ epoch: config.epoch, error: secret.failure }))
      return
    }
    const loaded = new Map<Epoch, RackSecret>()
    if (Option.isSome(config.encryptedRackSecrets)) {
      const decrypted = PriorSecrets.decrypt({
        secret: secret.success,
        rackId: RackIdModule.toBytes(config.rackId),
        epoch: config.epoch,
        salt: config.encryptedRackSecrets.value.salt,
        data: config.encryptedRackSecrets.value.data
      })
      if (Result.isFailure(decrypted)) {
        secret.success.dispose()
        ctx.raiseAlarm(new RackSecretDecryptionFailed({ epoch: config.epoch, error: decrypted.failure }))
        return
      }
      for (const [e, s] of decrypted.success) loaded.set(e, s)
    }
    loaded.set(config.epoch, secret.success)
    for (const old of this.#loaded.values()) old.dispose()
    this.#loaded = loaded
    this.#dropCollector()
  }

  /** Zeroes the peers' shares a collector holds (never the node's own persisted share). */
  #dropCollector(): void {
    const collector = this.#collector
    this.#collector = undefined
    if (collector === undefined) return
    for (const [key, share] of collector.collected) if (key !== collector.ownKey) share.y.fill(0)
  }
}
