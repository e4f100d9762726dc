/**
 * The simulated control plane (the Nexus analog) of the cluster simulation: the configurations it
 * decided, which members it saw prepare and commit, and the rules it follows — commit once K+Z
 * prepares are acknowledged, abort an epoch whose coordinator is lost, reconfigure only from a
 * committed configuration with a coordinator that committed it. It holds the authority key that signs
 * every decision.
 */
import type { SigningKey } from "../crypto/AuthorityKey.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"

export type NexusOp = "Preparing" | "Committed" | "Aborted"

/** One configuration as the control plane records it. */
export interface NexusConfig {
  op: NexusOp
  readonly epoch: Epoch
  readonly lastCommittedEpoch: Epoch | null
  readonly coordinator: BaseboardId
  readonly members: ReadonlyArray<BaseboardId>
  readonly threshold: number
  /** Extra prepare acknowledgements required beyond K before committing. */
  readonly commitCrashTolerance: number
  /** The configuration as the coordinator reported it (digests, encrypted secrets), once seen. */
  config: Configuration | undefined
  readonly prepared: Set<string>
  readonly committed: Set<string>
}

/** A reply travelling back to the control plane over the underlay network. */
export type NexusReply =
  | {
      readonly _tag: "AckedPrepares"
      readonly epoch: Epoch
      readonly acks: ReadonlyArray<string>
      readonly config: Configuration
    }
  | { readonly _tag: "CommitAck"; readonly epoch: Epoch; readonly id: string }

/** Z of the original's property test: by N − K, 0..1 → 0, 2..4 → 1, 5..7 → 2, else 3. */
export const commitCrashTolerance = (members: number, threshold: number): number => {
  const slack = members - threshold
  return slack <= 1 ? 0 : slack <= 4 ? 1 : slack <= 7 ? 2 : 3
}

/** The control plane's state. */
export class Nexus {
  readonly authority: SigningKey
  readonly configs = new Map<Epoch, NexusConfig>()
  /** Members of an earlier committed configuration that a later committed one dropped. */
  readonly expunged = new Set<string>()
  readonly replies: Array<NexusReply> = []

  constructor(authority: SigningKey) {
    this.authority = authority
  }

  get latest(): NexusConfig | undefined {
    let best: NexusConfig | undefined
    for (const c of this.configs.values()) if (best === undefined || c.epoch > best.epoch) best = c
    return best
  }

  get lastCommitted(): NexusConfig | undefined {
    let best: NexusConfig | undefined
    for (const c of this.configs.values()) {
      if (c.op === "Committed" && (best === undefined || c.epoch > best.epoch)) best = c
    }
    return best
  }

  get nextEpoch(): Epoch {
    return (this.latest?.epoch ?? 0) + 1
  }

  record(config: Omit<NexusConfig, "op" | "config" | "prepared" | "committed" | "commitCrashTolerance">): NexusConfig {
    const entry: NexusConfig = {
      ...config,
      op: "Preparing",
      commitCrashTolerance: commitCrashTolerance(config.members.length, config.threshold),
      config: undefined,
      prepared: new Set(),
      committed: new Set()
    }
    this.configs.set(entry.epoch, entry)
    return entry
  }

  /** Applies a reply: prepare acks may move the latest configuration to Committed; commit acks are recorded. */
  receive(reply: NexusReply): void {
    const latest = this.latest
    if (latest === undefined || reply.epoch !== latest.epoch) return
    if (reply._tag === "CommitAck") {
      latest.committed.add(reply.id)
      return
    }
    if (latest.op !== "Preparing") return
    latest.config = reply.config
    for (const id of reply.acks) latest.prepared.add(id)
    if (latest.prepared.size >= latest.threshold + latest.commitCrashTolerance) {
      const previous = this.lastCommitted
      latest.op = "Committed"
      if (previous !== undefined) {
        const now = new Set(latest.members.map((m) => m.key))
        for (const m of previous.members) if (!now.has(m.key)) this.expunged.add(m.key)
      }
    }
  }
}
