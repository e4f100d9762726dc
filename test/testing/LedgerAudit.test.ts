import { assert, describe, it } from "@effect/vitest"
import { Option, Result } from "effect"
import type { PlannedConfig } from "../../src/control/Reconfigurator.ts"
import * as LedgerAudit from "../../src/testing/LedgerAudit.ts"
import { seeded } from "../../src/testing/SeededRng.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import { type Configuration, newConfiguration } from "../../src/types/Configuration.ts"
import { Epoch } from "../../src/types/Epoch.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import type { Share } from "../../src/types/Share.ts"

const rackId = "c4a05000-0000-4000-8000-0000000000aa"
const ids = [1, 2, 3, 4].map((n) => BaseboardId.make("audit", `S${n}`))
const epoch = Epoch.make(1)

const fresh = (seed: number) => {
  const made = newConfiguration(
    {
      rackId,
      epoch,
      members: ids,
      threshold: 3,
      coordinator: ids[0] ?? BaseboardId.make("x", "y"),
      authorization: { lastCommittedEpoch: null, signature: new Uint8Array(64) }
    },
    seeded(seed)
  )
  if (Result.isFailure(made)) throw new Error("configuration")
  return made.success
}

const committedState = (config: Configuration, share: Share | undefined, committed = true) =>
  PersistentState.update(PersistentState.empty, (d) => {
    d.configs.set(epoch, config)
    if (share !== undefined) d.shares.set(epoch, share)
    if (committed) d.commits.add(epoch)
  })

const plan = (config: Configuration, state: "Prepared" | "Committed" = "Committed"): PlannedConfig => ({
  epoch,
  lastCommittedEpoch: null,
  coordinator: config.coordinator,
  threshold: config.threshold,
  commitCrashTolerance: 0,
  members: ids.map((id) => ({ id, state, via: "direct" })),
  phase: "Committed",
  config,
  startedAt: 0,
  committedAt: 1
})

const rack = (config: Configuration, shares: ReadonlyMap<string, Share>) =>
  new Map(ids.map((id) => [id.key, committedState(config, shares.get(id.key))] as const))

describe("LedgerAudit", () => {
  it("a consistent rack passes every check and yields one fingerprint and every share's forms", () => {
    const { configuration, shares } = fresh(1)
    const report = LedgerAudit.audit(rack(configuration, shares), { rackId, configs: [plan(configuration)] })
    assert.deepStrictEqual(report.violations, [])
    assert.strictEqual(report.lost, 0)
    // 4 nodes × (1 config + 1 granted + 1 share + 1 commit) + 4 × (prepared + committed) + 1 secret check.
    assert.strictEqual(report.invariantChecks, 4 * 4 + 4 * 2 + 1)
    assert.strictEqual(report.fingerprints.size, 1)
    assert.match(report.fingerprints.get(epoch) ?? "", /^[0-9a-f]{8}$/)
    const share = shares.get(ids[0]?.key ?? "")
    assert.isTrue(share !== undefined && report.secretForms.includes(Buffer.from(share.y).toString("hex")))
  })

  it("an acknowledged commit missing from a ledger counts as lost", () => {
    const { configuration, shares } = fresh(2)
    const nodes = rack(configuration, shares)
    const first = ids[0]?.key ?? ""
    nodes.set(first, committedState(configuration, shares.get(first), false))
    const report = LedgerAudit.audit(nodes, { rackId, configs: [plan(configuration)] })
    assert.strictEqual(report.lost, 1)
    assert.deepStrictEqual(
      report.violations.map((v) => v.invariant),
      ["CommittedIfAcked"]
    )
  })

  it("a committed node without its share, a share of another configuration and a second configuration for the epoch are each caught", () => {
    const a = fresh(3)
    const b = fresh(4)
    const nodes = rack(a.configuration, a.shares)
    const [s1, s2, s3] = ids.map((id) => id.key)
    nodes.set(s1 ?? "", committedState(a.configuration, undefined))
    nodes.set(s2 ?? "", committedState(a.configuration, b.shares.get(s2 ?? "")))
    nodes.set(s3 ?? "", committedState(b.configuration, b.shares.get(s3 ?? "")))
    const report = LedgerAudit.audit(nodes, { rackId, configs: [plan(a.configuration)] })
    const found = new Set(report.violations.map((v) => v.invariant))
    assert.deepStrictEqual([...found].sort(), [
      "CommittedHasShare",
      "PreparedIfAcked",
      "SameConfigurationPerEpoch",
      "ShareMatchesDigest"
    ])
  })

  it("a configuration the store did not grant (another epoch, or other members) is caught", () => {
    const { configuration, shares } = fresh(6)
    const report = LedgerAudit.audit(rack(configuration, shares), {
      rackId,
      configs: [{ ...plan(configuration), members: plan(configuration).members.slice(1) }]
    })
    assert.deepStrictEqual(
      report.violations.map((v) => v.invariant),
      ["GrantedByStore", "GrantedByStore", "GrantedByStore", "GrantedByStore"]
    )
    const none = LedgerAudit.audit(rack(configuration, shares), { rackId, configs: [] })
    assert.deepStrictEqual(
      none.violations.map((v) => v.invariant),
      ["GrantedByStore", "GrantedByStore", "GrantedByStore", "GrantedByStore"]
    )
  })

  it("too few shares on disk to recombine a committed epoch fails EqualSecrets", () => {
    const { configuration } = fresh(5)
    const nodes = new Map(ids.map((id) => [id.key, committedState(configuration, undefined, false)] as const))
    const unacked = ids.map((id) => ({ id, state: "Unacked" as const, via: null }))
    const report = LedgerAudit.audit(nodes, { rackId, configs: [{ ...plan(configuration), members: unacked }] })
    assert.deepStrictEqual(
      report.violations.map((v) => v.invariant),
      ["EqualSecrets"]
    )
    assert.isTrue(Option.isNone(Option.fromNullishOr(report.fingerprints.get(epoch))))
  })
})
