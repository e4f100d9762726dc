import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Stream } from "effect"
import * as ControlPlaneStore from "../../src/control/ControlPlaneStore.ts"
import * as Reconfigurator from "../../src/control/Reconfigurator.ts"
import type { BaseboardId } from "../../src/types/BaseboardId.ts"
import { authority, rackId, secrets, sled } from "../runtime/rack.ts"
import { tempDir } from "../runtime/tempDir.ts"
import { clientsOf, memoryRack } from "./memoryRack.ts"

const fast = { pollInterval: "10 millis", deadline: "20 seconds" } as const

describe("Reconfigurator against real nodes", () => {
  it.live("an initial configuration commits every member directly and emits its progress", () =>
    Effect.gen(function* () {
      const nodes = yield* memoryRack(4)
      const driver = yield* Reconfigurator.make({
        rackId,
        authority,
        store: ControlPlaneStore.memory(),
        clientOf: clientsOf(nodes),
        options: fast
      })
      const events = yield* Effect.forkChild(Stream.runCollect(Stream.take(driver.events, 7)), {
        startImmediately: true
      })
      const plan = yield* driver.reconfigure(nodes.map((n) => n.node.id))
      assert.strictEqual(plan.epoch, 1)
      assert.strictEqual(plan.threshold, 3)
      assert.deepStrictEqual(
        plan.members.map((m) => [m.state, m.via]),
        Array(4).fill(["Committed", "direct"])
      )
      const tags = (yield* Fiber.join(events)).map((e) => e._tag)
      assert.deepStrictEqual(tags, [
        "Proposed",
        "Prepared",
        "MemberCommitted",
        "MemberCommitted",
        "MemberCommitted",
        "MemberCommitted",
        "Committed"
      ])
      assert.strictEqual(new Set(yield* secrets(nodes, 1)).size, 1)
    })
  )

  it.live("a sled that only the proxy can reach is added at the next epoch and committed through a member", () =>
    Effect.gen(function* () {
      const nodes = yield* memoryRack(5)
      const withApi = nodes.slice(0, 4)
      const driver = yield* Reconfigurator.make({
        rackId,
        authority,
        store: ControlPlaneStore.memory(),
        clientOf: clientsOf(withApi),
        options: fast
      })
      yield* driver.reconfigure(withApi.map((n) => n.node.id))
      const plan = yield* driver.reconfigure(nodes.map((n) => n.node.id))
      assert.strictEqual(plan.epoch, 2)
      assert.strictEqual(plan.lastCommittedEpoch, 1)
      const added = plan.members.find((m) => m.id.key === sled(4).key)
      assert.deepStrictEqual([added?.state, added?.via], ["Committed", "proxy"])
      assert.strictEqual(new Set(yield* secrets(nodes, 2)).size, 1)
    })
  )

  it.live("a driver restarted mid-commit resumes from its file store and finishes", () =>
    Effect.gen(function* () {
      const nodes = yield* memoryRack(4)
      const dir = yield* tempDir("driver")
      const store = () => ControlPlaneStore.file([join(dir, "driver.json")])
      const clientOf = clientsOf(nodes)
      // The first driver's commit of sled 3 never returns: it is stopped there, mid-commit.
      const stuckAtSled3 = (id: BaseboardId) =>
        Option.map(clientOf(id), (c) => (id.key === sled(3).key ? { ...c, commit: () => Effect.never } : c))
      const first = yield* Reconfigurator.make({
        rackId,
        authority,
        store: store(),
        clientOf: stuckAtSled3,
        options: fast
      })
      const threeCommitted = yield* Effect.forkChild(
        Stream.runCollect(
          Stream.take(
            Stream.filter(first.events, (e) => e._tag === "MemberCommitted"),
            3
          )
        ),
        { startImmediately: true }
      )
      const running = yield* Effect.forkChild(first.reconfigure(nodes.map((n) => n.node.id)), {
        startImmediately: true
      })
      yield* Fiber.join(threeCommitted)
      yield* Fiber.interrupt(running)
      const saved = yield* first.state
      const partial = saved.configs[0]
      assert.strictEqual(partial?.phase, "Committing")
      assert.strictEqual(partial?.members.filter((m) => m.state === "Committed").length, 3)

      const second = yield* Reconfigurator.make({ rackId, authority, store: store(), clientOf, options: fast })
      const resumed = yield* second.resume
      assert.isTrue(Option.isSome(resumed))
      if (Option.isSome(resumed)) {
        assert.strictEqual(resumed.value.epoch, 1)
        assert.strictEqual(resumed.value.phase, "Committed")
        assert.isTrue(resumed.value.members.every((m) => m.state === "Committed"))
      }
      assert.strictEqual(new Set(yield* secrets(nodes, 1)).size, 1)
    })
  )
})

describe("Reconfigurator when the coordinator is lost", () => {
  it.live("a coordinator that loses its state mid-prepare aborts the epoch; the driver retries at the next one", () =>
    Effect.gen(function* () {
      const nodes = yield* memoryRack(4)
      const clientOf = clientsOf(nodes)
      // As after a crash and restart of the coordinator: it no longer reports epoch 1 (its state was in memory).
      const forgetsEpoch1 = (id: BaseboardId) =>
        Option.map(clientOf(id), (c) => ({
          ...c,
          coordinatorStatus: Effect.map(
            c.coordinatorStatus,
            Option.filter((s) => s.config.epoch !== 1)
          )
        }))
      const driver = yield* Reconfigurator.make({
        rackId,
        authority,
        store: ControlPlaneStore.memory(),
        clientOf: forgetsEpoch1,
        options: { ...fast, coordinatorTimeout: "300 millis" }
      })
      const aborted = yield* Effect.forkChild(
        Stream.runHead(Stream.filter(driver.events, (e) => e._tag === "Aborted")),
        { startImmediately: true }
      )
      const plan = yield* driver.reconfigure(nodes.map((n) => n.node.id))
      assert.strictEqual(plan.epoch, 2)
      assert.strictEqual(plan.phase, "Committed")
      const event = yield* Fiber.join(aborted)
      assert.isTrue(Option.isSome(event) && event.value._tag === "Aborted" && event.value.epoch === 1)
      assert.deepStrictEqual(
        (yield* driver.state).configs.map((c) => [c.epoch, c.phase]),
        [
          [1, "Aborted"],
          [2, "Committed"]
        ]
      )
      assert.strictEqual(new Set(yield* secrets(nodes, 2)).size, 1)
    })
  )
})

describe("thresholds", () => {
  it("K = N/2+1 and Z by size, as the original's control plane", () => {
    assert.deepStrictEqual(
      [3, 4, 5, 8, 9, 15, 16, 23, 24, 32].map(Reconfigurator.thresholdFor),
      [2, 3, 3, 5, 5, 8, 9, 12, 13, 17]
    )
    assert.deepStrictEqual(
      [4, 5, 8, 9, 15, 16, 23, 24, 32].map(Reconfigurator.commitCrashToleranceFor),
      [0, 1, 1, 2, 2, 3, 3, 4, 4]
    )
  })
})
