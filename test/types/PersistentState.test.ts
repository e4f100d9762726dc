import { assert, describe, it } from "@effect/vitest"
import { Option, Result, Schema } from "effect"
import { seeded } from "../../src/testing/SeededRng.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import * as Configuration from "../../src/types/Configuration.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"

/** A placeholder signed reconfiguration: these tests exercise the data types, not the signatures. */
const authorization = { lastCommittedEpoch: null, signature: new Uint8Array(64) }

const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const members = ["0", "1", "2"].map((s) => BaseboardId.make("p", s))
const me = members[0] ?? BaseboardId.make("p", "0")

const configAt = (epoch: number) => {
  const r = Configuration.newConfiguration(
    { rackId, epoch, members, threshold: 2, coordinator: me, authorization },
    seeded(epoch)
  )
  if (Result.isFailure(r)) throw new Error("newConfiguration failed")
  const share = r.success.shares.get(me.key)
  if (!share) throw new Error("no share")
  return { config: r.success.configuration, share }
}

const withEpochs = (prepared: ReadonlyArray<number>, committed: ReadonlyArray<number>) =>
  PersistentState.update(PersistentState.empty, (d) => {
    for (const e of prepared) {
      const { config, share } = configAt(e)
      d.configs.set(e, config)
      d.shares.set(e, share)
    }
    for (const e of committed) d.commits.add(e)
  })

describe("PersistentState", () => {
  it("a new node is uninitialized, not expunged, and knows no rack", () => {
    const s = PersistentState.empty
    assert.isTrue(PersistentState.isUninitialized(s))
    assert.isFalse(PersistentState.isExpunged(s))
    assert.isUndefined(PersistentState.rackId(s))
    assert.isUndefined(PersistentState.latestCommittedEpoch(s))
  })

  it("the latest committed epoch is the maximum, whatever the insertion order", () => {
    const s = withEpochs([1, 2, 3], [3, 1])
    assert.strictEqual(PersistentState.latestCommittedEpoch(s), 3)
    assert.strictEqual(PersistentState.latestCommittedConfig(s)?.epoch, 3)
  })

  it("the latest config may be newer than the latest committed one", () => {
    const s = withEpochs([1, 2], [1])
    assert.strictEqual(PersistentState.latestConfig(s)?.epoch, 2)
    assert.strictEqual(PersistentState.rackId(s), rackId)
    assert.isTrue(PersistentState.hasPrepared(s, 2))
    assert.isFalse(PersistentState.hasPrepared(s, 3))
  })

  it("update copies: the original state is unchanged", () => {
    const s = withEpochs([1], [])
    const t = PersistentState.update(s, (d) => d.commits.add(1))
    assert.strictEqual(s.commits.size, 0)
    assert.strictEqual(t.commits.size, 1)
  })

  it("round-trips through its JSON codec", () => {
    const s = PersistentState.update(withEpochs([1, 2], [1]), (d) => {
      d.expunged = Option.some(new PersistentState.ExpungedMetadata({ epoch: 2, from: BaseboardId.make("p", "9") }))
    })
    const codec = Schema.fromJsonString(Schema.toCodecJson(PersistentState.PersistentState))
    const text = Schema.encodeSync(codec)(s)
    const back = Schema.decodeUnknownSync(codec)(text)
    assert.deepStrictEqual(PersistentState.summary(back), PersistentState.summary(s))
    assert.deepStrictEqual(back.shares.get(1)?.y, s.shares.get(1)?.y)
    const c1 = back.configs.get(1)
    const c0 = s.configs.get(1)
    assert.isTrue(c1 !== undefined && c0 !== undefined && Configuration.equals(c0, c1))
  })

  it("summary lists epochs in ascending order without share bytes", () => {
    const s = withEpochs([2, 1], [2])
    const summary = PersistentState.summary(s)
    assert.deepStrictEqual(summary, { configs: [1, 2], shares: [1, 2], commits: [2], expunged: null })
  })
})
