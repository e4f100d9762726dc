/**
 * The rack-secret loader: reconstructs the secret of the latest committed epoch from K members' shares
 * and, by decrypting that configuration's chain of prior secrets, every older committed epoch's secret.
 *
 * Loading is asynchronous by polling: the first `load` starts a collector and returns none; later calls
 * return the secret once K validated shares arrived. Loaded secrets stay in memory until `clear`; each
 * call hands out a copy the caller owns, so clearing or reloading never zeroes a secret in use. A failure
 * to reconstruct or decrypt from validated shares is impossible for honest members and raises an alarm.
 */
import { Option, Result } from "effect"
import * as PriorSecrets from "../crypto/PriorSecrets.ts"
import { RackSecret } from "../crypto/RackSecret.ts"
import * as Gfss from "../gfss/Gfss.ts"
import {
  CommittedConfigurationLost,
  RackSecretDecryptionFailed,
  RackSecretReconstructionFailed
} from "../types/Alarm.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import * as PersistentState from "../types/PersistentState.ts"
import {
  AlarmRaised,
  type LoadRackSecretError,
  NoCommittedConfigurations,
  NotAvailable,
  NotCommitted
} from "../types/ProtocolError.ts"
import * as RackId from "../types/RackId.ts"
import type { NodeCtx } from "./NodeCtx.ts"
import { askForShare } from "./ShareResponder.ts"
import { type ShareOutcome, validateShare } from "./Validation.ts"

/** Collects shares of one committed configuration. */
interface Collector {
  readonly config: Configuration
  /** The node's own persisted share of that epoch: counted, never zeroed here. */
  readonly own: Gfss.Share | undefined
  /** Validated copies of the peers' shares, by member key; zeroed when the collector is dropped. */
  readonly collected: Map<string, Gfss.Share>
}

/** A copy of a secret for a caller; fails only for a disposed secret, which the loader never keeps. */
const copyOf = (secret: RackSecret): Option.Option<RackSecret> =>
  Result.getSuccess(secret.use((bytes) => RackSecret.fromBytes(bytes)))

/** Loads and keeps rack secrets. */
export class RackSecretLoader {
  #loaded = new Map<Epoch, RackSecret>()
  #collector: Collector | undefined

  /** True iff a collector runs for `epoch` or a later one. */
  isCollecting(epoch: Epoch): boolean {
    return this.#collector !== undefined && this.#collector.config.epoch >= epoch
  }

  /** The epoch being collected, if any. */
  get collectingEpoch(): Epoch | undefined {
    return this.#collector?.config.epoch
  }

  /** The epochs whose secrets are in memory, ascending. */
  get loadedEpochs(): ReadonlyArray<Epoch> {
    return Array.from(this.#loaded.keys()).sort((a, b) => a - b)
  }

  /**
   * The secret of `epoch` (a copy), none while collecting, or why it cannot be had — in the original's
   * order: loaded, nothing committed, not committed, not in the loaded chain, then the collector.
   */
  load(ctx: NodeCtx, epoch: Epoch): Result.Result<Option.Option<RackSecret>, LoadRackSecretError> {
    const loaded = this.#loaded.get(epoch)
    if (loaded !== undefined) {
      const copy = copyOf(loaded)
      if (Option.isSome(copy)) return Result.succeed(copy)
      this.#loaded.delete(epoch)
    }
    const state = ctx.persistentState
    const latest = PersistentState.latestCommittedEpoch(state)
    if (latest === undefined) return Result.fail(new NoCommittedConfigurations({}))
    if (epoch > latest) return Result.fail(new NotCommitted({ epoch }))
    // The latest secret is loaded and brought its whole chain: `epoch` is not in it (an aborted epoch).
    if (this.#loaded.has(latest)) return Result.fail(new NotAvailable({ epoch }))
    const collecting = this.#collector?.config.epoch
    if (collecting !== undefined && collecting > latest) {
      const alarm = new CommittedConfigurationLost({ latestCommittedEpoch: latest, collectingEpoch: collecting })
      ctx.raiseAlarm(alarm)
      return Result.fail(new AlarmRaised({ alarm }))
    }
    if (collecting === latest) return Result.succeed(Option.none())
    const config = state.configs.get(latest)
    // Unreachable: a commit implies its configuration (the persistent state's invariant).
    if (config === undefined) return Result.fail(new NotCommitted({ epoch: latest }))
    this.#dropCollector()
    this.#collector = { config, own: state.shares.get(latest), collected: new Map() }
    for (const peer of ctx.connected.values()) this.onConnect(ctx, peer)
    return Result.succeed(Option.none())
  }

  /** Asks a newly connected member for its share — again even if it already answered, as the original does. */
  onConnect(ctx: NodeCtx, peer: BaseboardId.BaseboardId): void {
    const collector = this.#collector
    if (collector?.config.isMember(peer) && !BaseboardId.equals(peer, ctx.id)) {
      askForShare(ctx, peer, collector.config.epoch)
    }
  }

  /** Takes a share: ignored for a loaded epoch or without a collector; validated; duplicates ignored. */
  handleShare(ctx: NodeCtx, from: BaseboardId.BaseboardId, epoch: Epoch, share: Gfss.Share): ShareOutcome {
    if (this.#loaded.has(epoch)) return "ShareNotCollecting"
    const collector = this.#collector
    if (collector === undefined) return "ShareNotCollecting"
    const valid = validateShare(collector.config, from, epoch, share)
    if (Result.isFailure(valid)) return valid.failure
    if (collector.collected.has(from.key)) return "ShareDuplicate"
    if (BaseboardId.equals(from, ctx.id) && collector.own !== undefined) return "ShareDuplicate"
    collector.collected.set(from.key, Gfss.copyShare(share))
    this.#tryReconstruct(ctx, collector)
    return "Collected"
  }

  /** Forgets every loaded secret (zeroed) and stops collecting. */
  clear(): void {
    for (const secret of this.#loaded.values()) secret.dispose()
    this.#loaded = new Map()
    this.#dropCollector()
  }

  /** With K shares: reconstruct, decrypt the chain, and replace the loaded secrets with the whole chain. */
  #tryReconstruct(ctx: NodeCtx, collector: Collector): void {
    const shares = Array.from(collector.collected.values())
    if (collector.own !== undefined) shares.push(collector.own)
    const { config } = collector
    if (shares.length < config.threshold) return
    const secret = RackSecret.reconstruct(shares)
    if (Result.isFailure(secret)) {
      ctx.raiseAlarm(new RackSecretReconstructionFailed({ epoch: config.epoch, error: secret.failure }))
      return
    }
    const loaded = new Map<Epoch, RackSecret>()
    const encrypted = config.encryptedRackSecrets
    if (Option.isSome(encrypted)) {
      const decrypted = PriorSecrets.decrypt({
        secret: secret.success,
        rackId: RackId.toBytes(config.rackId),
        epoch: config.epoch,
        salt: encrypted.value.salt,
        data: encrypted.value.data
      })
      if (Result.isFailure(decrypted)) {
        secret.success.dispose()
        ctx.raiseAlarm(new RackSecretDecryptionFailed({ epoch: config.epoch, error: decrypted.failure }))
        return
      }
      for (const [epoch, prior] of decrypted.success) loaded.set(epoch, prior)
    }
    loaded.get(config.epoch)?.dispose()
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
    for (const share of collector.collected.values()) Gfss.zeroShare(share)
    collector.collected.clear()
  }
}
