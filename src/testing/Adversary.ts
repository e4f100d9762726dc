/**
 * The Byzantine node of the adversarial simulation: a node with a valid link identity that runs the
 * honest protocol for its own role and, besides, forges, replays and oversizes messages of every kind.
 * This module holds what it may know — its own persistent state, every message delivered to it, and so
 * the configurations it coordinated — and builds each forgery from that knowledge alone, drawing its
 * bytes from a seeded generator so an adversarial case replays exactly. The `Simulation` decides when it
 * acts, who the candidate targets are, and delivers what it forges.
 */
import { Result } from "effect"
import { shareDigest } from "../crypto/ShareDigest.ts"
import type { Share } from "../gfss/Gfss.ts"
import type { Rng } from "../gfss/Rng.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import { Configuration, newConfiguration } from "../types/Configuration.ts"
import { type Epoch, maxEpoch } from "../types/Epoch.ts"
import {
  CommitAdvance,
  ExpungedReply,
  GetShare,
  PeerMsg,
  type PeerMsgKind,
  Prepare,
  ShareReply
} from "../types/PeerMsg.ts"
import type * as PersistentState from "../types/PersistentState.ts"
import type { RackId } from "../types/RackId.ts"
import { digestEquals } from "../types/Share.ts"
import { type AdversaryProfile, type Forgery, pick } from "./Case.ts"

/** What the adversary does to its target: a message over its link, or a proxied control-plane request. */
export type Attack =
  | { readonly _tag: "Send"; readonly to: BaseboardId.BaseboardId; readonly msg: PeerMsg }
  | { readonly _tag: "Commit"; readonly to: BaseboardId.BaseboardId; readonly epoch: Epoch; readonly proof: Uint8Array }
  | {
      readonly _tag: "PrepareAndCommit"
      readonly to: BaseboardId.BaseboardId
      readonly config: Configuration
      readonly proof: Uint8Array
    }

/** A committed configuration and the control plane's commit signature over it, as the adversary saw them. */
interface Proven {
  readonly config: Configuration
  readonly proof: Uint8Array
}

/** Identities no rack holds: padding for forged configurations larger than the universe. */
const phantom = (i: number): BaseboardId.BaseboardId => BaseboardId.make("913-0000019", `phantom-${i}`)

/** The Byzantine node's knowledge and its forgeries. */
export class Adversary {
  readonly id: BaseboardId.BaseboardId
  readonly profile: AdversaryProfile
  readonly #rackId: RackId
  readonly #rng: Rng
  /** Every message delivered to it, in delivery order. */
  readonly #received: Array<PeerMsg> = []
  /** Configurations carried by delivered messages, first sighting first. */
  readonly #seenConfigs: Array<Configuration> = []
  /** Commit proofs carried by delivered `CommitAdvance` and `Expunged`. */
  readonly #seenProofs: Array<Proven> = []
  /** Distinct x-coordinates of genuine shares delivered to it, by epoch. */
  readonly #genuineShares = new Map<Epoch, Set<number>>()

  constructor(id: BaseboardId.BaseboardId, profile: AdversaryProfile, rackId: RackId, rng: Rng) {
    this.id = id
    this.profile = profile
    this.#rackId = rackId
    this.#rng = rng
  }

  /**
   * A message was delivered to the adversary's node. `genuine` is the configuration the coordinator of
   * an epoch really persisted: a delivered share counts as genuine iff it matches that digest at its x.
   */
  observe(msg: PeerMsg, genuine: (epoch: Epoch) => Configuration | undefined): void {
    this.#received.push(msg)
    const kind = msg.kind
    if ("config" in kind && !this.#seenConfigs.some((c) => c === kind.config)) this.#seenConfigs.push(kind.config)
    if (kind._tag === "CommitAdvance" || kind._tag === "Expunged") {
      this.#seenProofs.push({ config: kind.config, proof: kind.proof })
    }
    const held =
      kind._tag === "Prepare"
        ? { epoch: kind.config.epoch, share: kind.share }
        : kind._tag === "Share"
          ? kind
          : undefined
    if (held !== undefined) {
      const config = genuine(held.epoch)
      const digest = config?.members[held.share.x - 1]?.digest
      if (digest !== undefined && digestEquals(shareDigest(held.share), digest)) {
        const xs = this.#genuineShares.get(held.epoch) ?? new Set<number>()
        xs.add(held.share.x)
        this.#genuineShares.set(held.epoch, xs)
      }
    }
  }

  /** How many distinct genuine shares of each epoch were delivered to it. */
  get genuineShares(): ReadonlyMap<Epoch, ReadonlySet<number>> {
    return this.#genuineShares
  }

  /** The `sel`-th message it received, re-sent unchanged (any kind) to one of `targets`. */
  replay(sel: number, to: number, targets: ReadonlyArray<BaseboardId.BaseboardId>): ReadonlyArray<Attack> {
    const msg = pick(this.#received, sel)
    const target = pick(targets, to)
    return msg === undefined || target === undefined ? [] : [{ _tag: "Send", to: target, msg }]
  }

  /**
   * One forgery against `targets` (the live honest nodes), built only from `state` (its own persistent
   * state) and what was delivered to it; empty when it knows too little to build it. A planted or
   * re-authorized configuration goes to every honest member at once (an equivocation), the rest to one.
   */
  forge(
    forgery: Forgery,
    sel: number,
    variant: number,
    to: number,
    targets: ReadonlyArray<BaseboardId.BaseboardId>,
    state: PersistentState.PersistentState
  ): ReadonlyArray<Attack> {
    const configs = this.#configs(state)
    // Half the time the newest configuration it knows: the epoch the honest nodes are still busy with.
    const newest = configs.reduce<Configuration | undefined>(
      (top, c) => (top === undefined || c.epoch > top.epoch ? c : top),
      undefined
    )
    const base = sel % 2 === 0 ? newest : pick(configs, sel >> 1)
    const target = pick(targets, to)
    if (target === undefined) return []
    // A member of the configuration the forgery builds on, when there is one to aim at.
    const member =
      (base === undefined
        ? undefined
        : pick(
            targets.filter((t) => base.isMember(t)),
            to
          )) ?? target
    const send = (at: BaseboardId.BaseboardId, kind: PeerMsgKind): Attack => ({
      _tag: "Send",
      to: at,
      msg: new PeerMsg({ rackId: this.#rackId, kind })
    })
    const equivocate = (built: Built | undefined): ReadonlyArray<Attack> =>
      built === undefined
        ? []
        : targets.flatMap((t) => {
            const share = built.shares.get(t.key)
            return share === undefined ? [] : [send(t, prepare(built.config, share))]
          })
    const topEpoch = newest?.epoch ?? 0
    switch (forgery) {
      case "PlantedPrepare":
        return equivocate(this.#planted(target, base, variant, topEpoch))
      case "ReauthorizedPrepare": {
        // Its own past coordinations first (their coordinator is its link identity), else anyone's.
        const own = configs.filter((c) => BaseboardId.equals(c.coordinator, this.id))
        const genuine = variant % 2 === 0 ? (pick(own, sel) ?? base) : base
        return genuine === undefined ? [] : equivocate(this.#reauthorized(genuine))
      }
      case "BogusSharePrepare": {
        if (base === undefined) return []
        const x = variant % 2 === 0 ? base.indexOf(member) + 1 : 1 + (variant % base.members.length)
        return [send(member, prepare(base, { x: Math.max(1, x), y: this.#bytes(32) }))]
      }
      case "BogusShare": {
        if (base === undefined) return []
        const x = 1 + (variant % base.members.length)
        return [send(target, new ShareReply({ epoch: base.epoch, share: { x, y: this.#bytes(32) } }))]
      }
      case "ProxiedCommit":
        return base === undefined
          ? []
          : [{ _tag: "Commit", to: member, epoch: base.epoch, proof: this.#proof(base, variant, state) }]
      case "ProxiedPrepareAndCommit":
      case "CommitAdvance": {
        if (base === undefined) return []
        const config = (variant >> 2) % 2 === 0 ? base : this.#reauthorized(base)?.config
        if (config === undefined) return []
        const proof = this.#proof(config, variant, state)
        return [
          forgery === "CommitAdvance"
            ? send(member, new CommitAdvance({ config, proof }))
            : { _tag: "PrepareAndCommit", to: member, config, proof }
        ]
      }
      case "Expunged": {
        // A genuine configuration (that includes the target or not) with some proof, or a forged one
        // above everything it knows that excludes the target.
        const config =
          (variant >> 2) % 2 === 0 || base === undefined
            ? this.#excluding(target, base, topEpoch + 1 + (variant % 3))
            : base
        return config === undefined
          ? []
          : [send(target, new ExpungedReply({ config, proof: this.#proof(config, variant, state) }))]
      }
      case "GetShare": {
        // Every epoch up to one past what it knows, the unknown and the never-existing included, with
        // some proof: garbage, another decision's, or the epoch's own when it has it.
        const epoch = 1 + (sel % (topEpoch + 2))
        const asked = configs.find((c) => c.epoch === epoch)
        const proof = asked === undefined ? this.#bytes(64) : this.#proof(asked, variant, state)
        return [send(target, new GetShare({ epoch, proof }))]
      }
      case "Oversized": {
        const oversized = this.#oversized(target, base, variant, topEpoch)
        return oversized === undefined ? [] : [send(target, oversized)]
      }
    }
  }

  /** Every configuration it knows: its own persisted ones (those it coordinated among them), then those delivered to it. */
  #configs(state: PersistentState.PersistentState): ReadonlyArray<Configuration> {
    const own = Array.from(state.configs.values())
    return [...own, ...this.#seenConfigs.filter((c) => !own.includes(c))]
  }

  /** The proof a forgery carries: garbage, a genuine proof of some other decision, or `config`'s own if it has it. */
  #proof(config: Configuration, variant: number, state: PersistentState.PersistentState): Uint8Array {
    const proven: Array<Proven> = [...this.#seenProofs]
    for (const [epoch, proof] of state.proofs) {
      const c = state.configs.get(epoch)
      if (c !== undefined) proven.push({ config: c, proof })
    }
    switch (variant % 4) {
      case 0:
        return this.#bytes(64)
      case 1:
        return pick(proven, variant >> 3)?.proof ?? this.#bytes(64)
      case 2:
        return config.authorization.signature
      default:
        return proven.find((p) => p.config === config)?.proof ?? this.#bytes(64)
    }
  }

  /**
   * A configuration nobody authorized: the target, the adversary and what it knows of a membership,
   * at a known epoch or above all of them, coordinated by itself (or claiming another coordinator),
   * with a random signature or one lifted from a genuine configuration.
   */
  #planted(
    target: BaseboardId.BaseboardId,
    base: Configuration | undefined,
    variant: number,
    topEpoch: Epoch
  ): Built | undefined {
    const members = BaseboardId.sortUnique([target, this.id, phantom(0), ...(base?.memberIds ?? [])])
    const epoch = [base?.epoch ?? 1, topEpoch + 1, topEpoch + 7][(variant >> 2) % 3] ?? 1
    const coordinator = variant % 2 === 0 || base === undefined ? this.id : base.coordinator
    const signature = (variant >> 1) % 2 === 0 || base === undefined ? this.#bytes(64) : base.authorization.signature
    return this.#build({
      epoch,
      members,
      threshold: 2 + (variant % (members.length - 2)),
      coordinator,
      authorization: { lastCommittedEpoch: base?.authorization.lastCommittedEpoch ?? null, signature }
    })
  }

  /** `genuine` with its genuine signed authorization but fresh shares (so fresh digests). */
  #reauthorized(genuine: Configuration): Built | undefined {
    const built = this.#build({
      epoch: genuine.epoch,
      members: genuine.memberIds,
      threshold: genuine.threshold,
      coordinator: genuine.coordinator,
      authorization: genuine.authorization
    })
    if (built === undefined) return undefined
    const config = new Configuration({ ...built.config, encryptedRackSecrets: genuine.encryptedRackSecrets })
    return { config, shares: built.shares }
  }

  /** A configuration at `epoch` that leaves `target` out: a known membership without it, padded to three. */
  #excluding(
    target: BaseboardId.BaseboardId,
    base: Configuration | undefined,
    epoch: Epoch
  ): Configuration | undefined {
    const others = (base?.memberIds ?? []).filter((m) => !BaseboardId.equals(m, target))
    const members = BaseboardId.sortUnique([this.id, phantom(0), phantom(1), ...others])
    return this.#build({
      epoch,
      members,
      threshold: 2,
      coordinator: this.id,
      authorization: { lastCommittedEpoch: base?.epoch ?? null, signature: this.#bytes(64) }
    })?.config
  }

  /** Messages beyond every bound: a 600-byte share, 40 members, threshold 0, an epoch at 2^40 or just below. */
  #oversized(
    target: BaseboardId.BaseboardId,
    base: Configuration | undefined,
    variant: number,
    topEpoch: Epoch
  ): PeerMsgKind | undefined {
    const unchecked = { disableChecks: true }
    const planted = this.#planted(target, base, variant >> 3, topEpoch)
    switch (variant % 6) {
      case 0:
        return new ShareReply({ epoch: base?.epoch ?? 1, share: { x: 1, y: this.#bytes(600) } }, unchecked)
      case 1: {
        const members = BaseboardId.sortUnique([target, this.id, ...Array.from({ length: 38 }, (_, i) => phantom(i))])
        const built = this.#build({
          epoch: topEpoch + 1,
          members,
          threshold: 20,
          coordinator: this.id,
          authorization: { lastCommittedEpoch: base?.epoch ?? null, signature: this.#bytes(64) }
        })
        return prepareFor(built, target)
      }
      case 2:
        return planted === undefined
          ? undefined
          : prepareFor(
              { ...planted, config: new Configuration({ ...planted.config, threshold: 0 }, unchecked) },
              target
            )
      case 3:
      case 4: {
        if (planted === undefined) return undefined
        const huge = new Configuration({ ...planted.config, epoch: variant % 6 === 3 ? maxEpoch : maxEpoch - 1 })
        return (variant >> 3) % 2 === 0
          ? prepareFor({ ...planted, config: huge }, target)
          : new CommitAdvance({ config: huge, proof: this.#bytes(64) })
      }
      default:
        return new GetShare({ epoch: maxEpoch, proof: this.#bytes(64) })
    }
  }

  /** A fresh configuration (new secret, new shares) with the given fields. */
  #build(fields: {
    readonly epoch: Epoch
    readonly members: ReadonlyArray<BaseboardId.BaseboardId>
    readonly threshold: number
    readonly coordinator: BaseboardId.BaseboardId
    readonly authorization: Configuration["authorization"]
  }): Built | undefined {
    const created = newConfiguration({ rackId: this.#rackId, ...fields }, this.#rng)
    return Result.isFailure(created)
      ? undefined
      : { config: created.success.configuration, shares: created.success.shares }
  }

  #bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    this.#rng(out)
    return out
  }
}

/** A fresh configuration and every member's share of it, by member key. */
interface Built {
  readonly config: Configuration
  readonly shares: ReadonlyMap<string, Share>
}

/** A `Prepare` built without the share's length check, so oversized shares can be sent too. */
const prepare = (config: Configuration, share: Share): Prepare =>
  new Prepare({ config, share }, { disableChecks: true })

/** `built`'s configuration with `holder`'s share. */
const prepareFor = (built: Built | undefined, holder: BaseboardId.BaseboardId): Prepare | undefined => {
  const share = built?.shares.get(holder.key)
  return built === undefined || share === undefined ? undefined : prepare(built.config, share)
}
