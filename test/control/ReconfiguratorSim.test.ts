/**
 * The control-plane driver against the deterministic simulated rack (protocol nodes, no sockets):
 * adding a sled only a proxy reaches, removing one (which then learns it is expunged), and a coordinator
 * that crashes right after accepting the reconfiguration.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as ControlPlaneStore from "../../src/control/ControlPlaneStore.ts"
import type { MemberClient } from "../../src/control/MemberClient.ts"
import * as Reconfigurator from "../../src/control/Reconfigurator.ts"
import { SimulatedRack } from "../../src/testing/SimulatedRack.ts"
import type { BaseboardId } from "../../src/types/BaseboardId.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import { authority, rackId, sled } from "../runtime/rack.ts"

const ids = [0, 1, 2, 3, 4].map(sled)
const fast = { pollInterval: "1 millis", coordinatorTimeout: "100 millis", deadline: "10 seconds" } as const

const driverFor = (
  rack: SimulatedRack,
  withApi: ReadonlyArray<BaseboardId>,
  wrap = (_: BaseboardId, c: MemberClient) => c
) =>
  Reconfigurator.make({
    rackId,
    authority,
    store: ControlPlaneStore.memory(),
    clientOf: (id) => (withApi.some((a) => a.key === id.key) ? Option.some(wrap(id, rack.client(id))) : Option.none()),
    options: fast
  })

const sameSecret = (rack: SimulatedRack, members: ReadonlyArray<BaseboardId>) => {
  const secrets = members.map((id) => rack.loadLatest(id))
  const first = secrets[0]
  return (
    first !== undefined && Option.isSome(first) && secrets.every((s) => Option.isSome(s) && s.value.equals(first.value))
  )
}

describe("Reconfigurator against the simulated rack", () => {
  it.live("adds a sled that only a proxy can reach; every member unlocks the same secret", () =>
    Effect.gen(function* () {
      const rack = new SimulatedRack(ids, authority.publicKey, "add")
      const driver = yield* driverFor(rack, ids.slice(0, 4))
      yield* driver.reconfigure(ids.slice(0, 4))
      const plan = yield* driver.reconfigure(ids)
      assert.strictEqual(plan.epoch, 2)
      assert.strictEqual(plan.members.find((m) => m.id.key === sled(4).key)?.via, "proxy")
      assert.isTrue(sameSecret(rack, ids))
    })
  )

  it.live("removes a sled: the rest commit a new epoch, and the removed sled learns it is expunged", () =>
    Effect.gen(function* () {
      const rack = new SimulatedRack(ids.slice(0, 4), authority.publicKey, "remove")
      const driver = yield* driverFor(rack, ids.slice(0, 4))
      yield* driver.reconfigure(ids.slice(0, 4))
      const plan = yield* driver.reconfigure(ids.slice(0, 3))
      assert.strictEqual(plan.members.length, 3)
      assert.isTrue(sameSecret(rack, ids.slice(0, 3)))
      rack.loadLatest(sled(3))
      const removed = rack.node(sled(3))
      assert.isTrue(removed !== undefined && PersistentState.isExpunged(removed.ctx.persistentState))
    })
  )

  it.live("a coordinator that crashes after accepting the reconfiguration: abort, retry at the next epoch", () =>
    Effect.gen(function* () {
      const rack = new SimulatedRack(ids.slice(0, 4), authority.publicKey, "crash")
      let crashed = false
      const crashAfterAccepting = (id: BaseboardId, c: MemberClient): MemberClient => ({
        ...c,
        reconfigure: (msg) =>
          Effect.tap(c.reconfigure(msg), () =>
            Effect.sync(() => {
              if (crashed) return
              crashed = true
              rack.crash(id)
              rack.restart(id)
            })
          )
      })
      const driver = yield* driverFor(rack, ids.slice(0, 4), crashAfterAccepting)
      const plan = yield* driver.reconfigure(ids.slice(0, 4))
      assert.strictEqual(plan.epoch, 2)
      assert.deepStrictEqual(
        (yield* driver.state).configs.map((c) => [c.epoch, c.phase]),
        [
          [1, "Aborted"],
          [2, "Committed"]
        ]
      )
      assert.isTrue(sameSecret(rack, ids.slice(0, 4)))
    })
  )
})
