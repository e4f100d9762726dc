/**
 * The key-share computer: how a member that missed its `Prepare` (told to commit by PrepareAndCommit
 * or by a peer's CommitAdvance) rebuilds its own share of a committed configuration.
 *
 * It asks every member for its share of that epoch, validates each against the configuration's
 * digests, and once it holds K it interpolates its own share at x = its rank + 1 — without ever
 * reconstructing the secret — then persists the share and the commit together.
 */
import { Result } from "effect"
import * as Gfss from "../gfss/Gfss.ts"
import { ShareComputationFailed } from "../types/Alarm.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import { GetShare } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type { NodeCtx } from "./NodeCtx.ts"
import { isValidShare } from "./Validation.ts"

/** Rebuilds this node's share of `config` from K peers' shares. */
export class KeyShareComputer {
  readonly config: Configuration
  readonly #collected = new Map<string, Gfss.Share>()

  private constructor(config: Configuration) {
    this.config = config
  }

  get epoch(): Epoch {
    return this.config.epoch
  }

  /** Starts computing; asks every connected member for its share. The config is already persisted. */
  static start(ctx: NodeCtx, config: Configuration): KeyShareComputer {
    const computer = new KeyShareComputer(config)
    for (const peer of ctx.connected.values()) computer.onConnect(ctx, peer)
    return computer
  }

  onConnect(ctx: NodeCtx, peer: BaseboardId): void {
    if (this.config.isMember(peer) && !this.#collected.has(peer.key)) {
      ctx.send(peer, new GetShare({ epoch: this.config.epoch }))
    }
  }

  /** Takes a share; returns true once this node's share and commit are persisted (the computer is done). */
  handleShare(ctx: NodeCtx, from: BaseboardId, epoch: Epoch, share: Gfss.Share): boolean {
    if (!isValidShare(this.config, from, epoch, share)) return false
    const already = this.#collected.has(from.key)
    this.#collected.set(from.key, Gfss.copyShare(share))
    if (already || this.#collected.size < this.config.threshold) return false
    const index = this.config.indexOf(ctx.id)
    if (index < 0) return false
    const computed = Gfss.computeShare(Array.from(this.#collected.values()), index + 1)
    if (Result.isFailure(computed)) {
      ctx.raiseAlarm(new ShareComputationFailed({ epoch: this.config.epoch, error: computed.failure }))
      return false
    }
    const epochToCommit = this.config.epoch
    ctx.updatePersistentState((s) =>
      PersistentState.update(s, (d) => {
        d.shares.set(epochToCommit, computed.success)
        d.commits.add(epochToCommit)
      })
    )
    this.dispose()
    return true
  }

  /** Zeroes the peers' shares it holds. */
  dispose(): void {
    for (const share of this.#collected.values()) share.y.fill(0)
    this.#collected.clear()
  }
}
