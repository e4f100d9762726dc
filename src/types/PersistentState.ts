/**
 * A node's persistent state — the unit of durability — and the queries the protocol derives from it.
 *
 * Configurations and shares are insert-only and commits only grow; `expunged` is sticky. Every commit
 * has its proof — the control plane's commit signature over that configuration — kept in `proofs`, so
 * the node can show it to a peer that is behind (`CommitAdvance`) or removed (`Expunged`). The state is
 * immutable: the protocol replaces it (copying the small maps) whenever it changes.
 */
import { Option, Schema } from "effect"
import { Signature } from "../crypto/AuthorityKey.ts"
import { BaseboardId } from "./BaseboardId.ts"
import { Configuration } from "./Configuration.ts"
import { Epoch } from "./Epoch.ts"
import type { RackId } from "./RackId.ts"
import { Share } from "./Share.ts"

/** Who told this node it was expunged, and the epoch of the signed committed configuration that excludes it. */
export class ExpungedMetadata extends Schema.Class<ExpungedMetadata>("ExpungedMetadata")({
  epoch: Epoch,
  from: BaseboardId
}) {}

/** The persistent state of one node. */
export class PersistentState extends Schema.Class<PersistentState>("PersistentState")({
  configs: Schema.ReadonlyMap(Epoch, Configuration),
  shares: Schema.ReadonlyMap(Epoch, Share),
  commits: Schema.ReadonlySet(Epoch),
  /** Commit signatures by epoch, verified before they were stored: every commit has one. */
  proofs: Schema.ReadonlyMap(Epoch, Signature),
  expunged: Schema.OptionFromNullOr(ExpungedMetadata)
}) {}

/** The state of a node that has never been part of a rack. */
export const empty: PersistentState = new PersistentState({
  configs: new Map(),
  shares: new Map(),
  commits: new Set(),
  proofs: new Map(),
  expunged: Option.none()
})

const maxKey = (keys: Iterable<number>): number | undefined => {
  let max: number | undefined
  for (const k of keys) if (max === undefined || k > max) max = k
  return max
}

/** The rack this node belongs to: the rack id of its latest configuration. */
export const rackId = (s: PersistentState): RackId | undefined => latestConfig(s)?.rackId

/** The configuration with the highest epoch, committed or not. */
export const latestConfig = (s: PersistentState): Configuration | undefined => {
  const e = maxKey(s.configs.keys())
  return e === undefined ? undefined : s.configs.get(e)
}

/** The highest committed epoch. Commits may arrive out of order, so this is a maximum, not the last insert. */
export const latestCommittedEpoch = (s: PersistentState): Epoch | undefined => maxKey(s.commits)

/** The configuration of the latest committed epoch. */
export const latestCommittedConfig = (s: PersistentState): Configuration | undefined => {
  const e = latestCommittedEpoch(s)
  return e === undefined ? undefined : s.configs.get(e)
}

/** Whether the node holds both the configuration and its own share for `epoch`. */
export const hasPrepared = (s: PersistentState, epoch: Epoch): boolean => s.configs.has(epoch) && s.shares.has(epoch)

/** Nothing committed yet (prepared but uncommitted configurations still count as uninitialized). */
export const isUninitialized = (s: PersistentState): boolean => s.commits.size === 0

export const isExpunged = (s: PersistentState): boolean => Option.isSome(s.expunged)

/** A copy with `f` applied to fresh copies of the maps (the protocol's only way to change state). */
export const update = (
  s: PersistentState,
  f: (draft: {
    configs: Map<Epoch, Configuration>
    shares: Map<Epoch, Share>
    commits: Set<Epoch>
    proofs: Map<Epoch, Signature>
    expunged: Option.Option<ExpungedMetadata>
  }) => void
): PersistentState => {
  const draft = {
    configs: new Map(s.configs),
    shares: new Map(s.shares),
    commits: new Set(s.commits),
    proofs: new Map(s.proofs),
    expunged: s.expunged
  }
  f(draft)
  return new PersistentState(draft)
}

/** The persistent-state summary reported in node status (no share bytes). */
export const NodePersistentStateSummary = Schema.Struct({
  configs: Schema.Array(Epoch),
  shares: Schema.Array(Epoch),
  commits: Schema.Array(Epoch),
  expunged: Schema.NullOr(ExpungedMetadata)
})
export type NodePersistentStateSummary = typeof NodePersistentStateSummary.Type

export const summary = (s: PersistentState): NodePersistentStateSummary => ({
  configs: Array.from(s.configs.keys()).sort((a, b) => a - b),
  shares: Array.from(s.shares.keys()).sort((a, b) => a - b),
  commits: Array.from(s.commits).sort((a, b) => a - b),
  expunged: Option.getOrNull(s.expunged)
})
