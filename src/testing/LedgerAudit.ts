/**
 * An audit of a rack after the fact, from what survives on disk: every node's persisted state (read
 * from its ledger) and the control plane's record of what it was told (the driver's saved progress).
 *
 * It checks the simulation's durability invariants on real ledgers — one configuration per epoch,
 * every configuration a node holds is one the control plane's store granted (its epoch, coordinator and
 * members), every share matches its configuration's digest, committed ⇒ holds the configuration and its
 * share, acknowledged prepare ⇒ prepared, acknowledged commit ⇒ committed — and recombines each committed
 * epoch's secret from several threshold subsets of the persisted shares, which must agree. It returns
 * the secrets' fingerprints (to compare with what live nodes unlock) and every secret and share in its
 * printable forms (to search logs for), never the secrets themselves.
 */

import type { DriverState } from "../control/Reconfigurator.ts"
import { RackSecret } from "../crypto/RackSecret.ts"
import { shareDigest } from "../crypto/ShareDigest.ts"
import type { Share } from "../gfss/Gfss.ts"
import type { Configuration } from "../types/Configuration.ts"
import * as ConfigurationModule from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import * as PersistentState from "../types/PersistentState.ts"
import { digestEquals } from "../types/Share.ts"

/** One broken invariant. */
export interface Violation {
  readonly invariant:
    | "SameConfigurationPerEpoch"
    | "GrantedByStore"
    | "ShareMatchesDigest"
    | "CommittedHasShare"
    | "PreparedIfAcked"
    | "CommittedIfAcked"
    | "EqualSecrets"
  readonly detail: string
}

export interface AuditReport {
  readonly invariantChecks: number
  readonly violations: ReadonlyArray<Violation>
  /** Acknowledged prepares or commits that the node's ledger does not hold. */
  readonly lost: number
  /** The fingerprint of each committed epoch's secret, recombined from the ledgers. */
  readonly fingerprints: ReadonlyMap<Epoch, string>
  /** Every persisted share and recombined secret in hex, base64 and base64url. */
  readonly secretForms: ReadonlyArray<string>
}

/** The printable forms a leaked secret would take in a log. */
export const printableForms = (bytes: Uint8Array): ReadonlyArray<string> => {
  const b = Buffer.from(bytes)
  return [b.toString("hex"), b.toString("base64"), b.toString("base64url")]
}

/** Audits `nodes` (node key ⇒ persisted state) against the driver's saved progress. */
export const audit = (
  nodes: ReadonlyMap<string, PersistentState.PersistentState>,
  driver: DriverState
): AuditReport => {
  let invariantChecks = 0
  let lost = 0
  const violations: Array<Violation> = []
  const check = (ok: boolean, invariant: Violation["invariant"], detail: () => string) => {
    invariantChecks++
    if (!ok) violations.push({ invariant, detail: detail() })
  }
  const secretForms: Array<string> = []
  const byEpoch = new Map<Epoch, Configuration>()
  for (const plan of driver.configs) if (plan.config !== null) byEpoch.set(plan.epoch, plan.config)

  const granted = new Map(driver.configs.map((plan) => [plan.epoch, plan] as const))
  for (const [key, state] of nodes) {
    for (const [epoch, config] of state.configs) {
      const plan = granted.get(epoch)
      check(
        plan !== undefined &&
          plan.coordinator.key === config.coordinator.key &&
          plan.members.map((m) => m.id.key).join(",") === config.members.map((m) => m.id.key).join(","),
        "GrantedByStore",
        () => `${key} holds a configuration for epoch ${epoch} that the control plane's store did not grant`
      )
      const known = byEpoch.get(epoch)
      check(
        known === undefined || ConfigurationModule.equals(known, config),
        "SameConfigurationPerEpoch",
        () => `${key} holds a configuration for epoch ${epoch} that differs from another node's`
      )
      if (known === undefined) byEpoch.set(epoch, config)
    }
    for (const [epoch, share] of state.shares) {
      secretForms.push(...printableForms(share.y))
      const config = state.configs.get(epoch)
      const digest = config?.members.find((m) => m.id.key === key)?.digest
      check(
        digest !== undefined && digestEquals(shareDigest(share), digest),
        "ShareMatchesDigest",
        () => `${key}'s share of epoch ${epoch} does not match its configuration's digest`
      )
    }
    for (const epoch of state.commits) {
      check(
        PersistentState.hasPrepared(state, epoch),
        "CommittedHasShare",
        () => `${key} committed epoch ${epoch} without holding its configuration and share`
      )
    }
  }

  for (const plan of driver.configs) {
    for (const member of plan.members) {
      const state = nodes.get(member.id.key)
      if (member.state !== "Unacked") {
        const ok = state !== undefined && PersistentState.hasPrepared(state, plan.epoch)
        if (!ok) lost++
        check(ok, "PreparedIfAcked", () => `${member.id} acknowledged epoch ${plan.epoch} but has not prepared it`)
      }
      if (member.state === "Committed") {
        const ok = state?.commits.has(plan.epoch) === true
        if (!ok) lost++
        check(ok, "CommittedIfAcked", () => `${member.id} acknowledged the commit of ${plan.epoch} but lost it`)
      }
    }
  }

  const fingerprints = new Map<Epoch, string>()
  for (const plan of driver.configs) {
    if (plan.phase !== "Committed") continue
    const shares: Array<Share> = []
    for (const member of plan.members) {
      const share = nodes.get(member.id.key)?.shares.get(plan.epoch)
      if (share !== undefined) shares.push(share)
    }
    // Recombine from the first, the last and a spread-out threshold subset: they must all agree.
    const k = plan.threshold
    const subsets = [shares.slice(0, k), shares.slice(-k), shares.filter((_, i) => i % 2 === 0).slice(0, k)].filter(
      (s) => s.length === k
    )
    const secrets = subsets
      .map((s) => RackSecret.reconstruct(s))
      .flatMap((r) => (r._tag === "Success" ? [r.success] : []))
    for (const secret of secrets) secret.use((bytes) => secretForms.push(...printableForms(bytes)))
    const first = secrets[0]
    check(
      first !== undefined && secrets.length === subsets.length && secrets.every((s) => s.equals(first)),
      "EqualSecrets",
      () => `the shares of epoch ${plan.epoch} do not recombine to one secret (${shares.length} of K=${k} found)`
    )
    if (first !== undefined) fingerprints.set(plan.epoch, first.fingerprint())
    for (const secret of secrets) secret.dispose()
  }
  return { invariantChecks, violations, lost, fingerprints, secretForms }
}
