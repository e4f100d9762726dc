/**
 * The key-share computer: how a member that missed its `Prepare` (and was told to commit by the control
 * plane's PrepareAndCommit or a peer's CommitAdvance) rebuilds its own share of that configuration.
 *
 * It asks the members for their shares of the epoch, validates each against the configuration's digests,
 * and once it holds K it interpolates its own share at x = its rank + 1 — without ever reconstructing the
 * secret — then persists the share and the commit together, so a commit never exists without its share.
 */
import { Result } from "effect"
import * as Gfss from "../gfss/Gfss.ts"
import { ShareComputationFailed } from "../types/Alarm.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type { NodeCtx } from "./NodeCtx.ts"
import { askForShare } from "./ShareResponder.ts"
import { type ShareOutcome, validateShare } from "./Validation.ts"

/** Rebuilds this node's share of `config` from K members' shares. */
export class KeyShareComputer {
  /** A copy of the persisted configuration being committed. */
  readonly config: Configuration
  /** Validated copies of the members' shares, by member key; zeroed when no longer needed. */
  readonly #collected = new Map<string, Gfss.Share>()

  private constructor(config: Configuration) {
    this.config = config
  }

  get epoch(): Epoch {
    return this.config.epoch
  }

  /** Starts computing and asks every connected member for its share. The configuration is already persisted. */
  static start(ctx: NodeCtx, config: Configuration): KeyShareComputer {
    const computer = new KeyShareComputer(config)
    for (const peer of ctx.connected.values()) computer.onConnect(ctx, peer)
    return computer
  }

  /** Asks a newly connected member for its share, unless it already answered. */
  onConnect(ctx: NodeCtx, peer: BaseboardId.BaseboardId): void {
    if (this.config.isMember(peer) && !BaseboardId.equals(peer, ctx.id) && !this.#collected.has(peer.key)) {
      askForShare(ctx, peer, this.config.epoch)
    }
  }

  /**
   * Takes a share. `done` is true once this node's share and the commit are persisted; the caller then
   * drops the computer. A duplicate replaces the earlier copy without counting twice. With K shares a
   * failed interpolation raises `ShareComputationFailed` and the computer keeps waiting.
   */
  handleShare(
    ctx: NodeCtx,
    from: BaseboardId.BaseboardId,
    epoch: Epoch,
    share: Gfss.Share
  ): { readonly outcome: ShareOutcome; readonly done: boolean } {
    const valid = validateShare(this.config, from, epoch, share)
    if (Result.isFailure(valid)) return { outcome: valid.failure, done: false }
    const previous = this.#collected.get(from.key)
    this.#collected.set(from.key, Gfss.copyShare(share))
    if (previous !== undefined) {
      Gfss.zeroShare(previous)
      return { outcome: "ShareDuplicate", done: false }
    }
    if (this.#collected.size < this.config.threshold) return { outcome: "Collected", done: false }
    const index = this.config.indexOf(ctx.id)
    // Unreachable: a computer is only started for a configuration this node is a member of.
    if (index < 0) return { outcome: "Collected", done: false }
    const computed = Gfss.computeShare(Array.from(this.#collected.values()), index + 1)
    if (Result.isFailure(computed)) {
      ctx.raiseAlarm(new ShareComputationFailed({ epoch: this.config.epoch, error: computed.failure }))
      return { outcome: "Collected", done: false }
    }
    const epochToCommit = this.config.epoch
    ctx.updatePersistentState((s) =>
      PersistentState.update(s, (d) => {
        d.shares.set(epochToCommit, computed.success)
        d.commits.add(epochToCommit)
      })
    )
    this.dispose()
    return { outcome: "Collected", done: true }
  }

  /** Stops computing: zeroes the members' shares it holds. */
  dispose(): void {
    for (const share of this.#collected.values()) Gfss.zeroShare(share)
    this.#collected.clear()
  }
}
