/**
 * The control-plane store's steps, against both stores: the ledger-file store and PostgreSQL (a throwaway
 * cluster started by this file). Each step holds only from the state it names; from any other it is a
 * `StaleView`. PostgreSQL alone: racing proposals, racing migrations, and a server crash.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Schedule } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { PlannedConfig } from "../../src/control/ControlPlaneStore.ts"
import * as ControlPlaneStore from "../../src/control/ControlPlaneStore.ts"
import { PgCluster } from "../../src/testing/PgCluster.ts"
import { Configuration } from "../../src/types/Configuration.ts"
import { sled } from "../runtime/rack.ts"

const members = [1, 2, 3, 4].map(sled)

const planAt = (epoch: number, lastCommittedEpoch: number | null, request = `r${epoch}`): PlannedConfig => ({
  epoch,
  lastCommittedEpoch,
  coordinator: sled(1),
  threshold: 3,
  commitCrashTolerance: 0,
  members: members.map((id) => ({ id, state: "Unacked", via: null })),
  phase: "Preparing",
  config: null,
  startedAt: 1000 + epoch,
  committedAt: null,
  request
})

/** A configuration with the plan's members (its digests are never checked by the store). */
const configOf = (plan: PlannedConfig) =>
  new Configuration({
    rackId: "0123e456-789a-4bcd-8f01-23456789abcd",
    epoch: plan.epoch,
    coordinator: plan.coordinator,
    members: members.map((id) => ({ id, digest: new Uint8Array(32).fill(id.serialNumber.charCodeAt(0)) })),
    threshold: plan.threshold,
    encryptedRackSecrets: Option.none(),
    authorization: { lastCommittedEpoch: plan.lastCommittedEpoch, signature: new Uint8Array(64) }
  })

/** Moves `plan` through every step to Committed. */
const commitAll = (store: ControlPlaneStore.ControlPlaneStoreShape, rack: string, plan: PlannedConfig) =>
  Effect.gen(function* () {
    yield* store.propose(rack, plan)
    yield* store.prepared(rack, plan.epoch, configOf(plan), members.slice(0, 3))
    for (const id of members) yield* store.memberCommitted(rack, plan.epoch, id, "direct")
    yield* store.committed(rack, plan.epoch, 5000 + plan.epoch)
  })

const staleStep = <A>(effect: Effect.Effect<A, ControlPlaneStore.StoreError>) =>
  Effect.map(Effect.flip(effect), (e) => (e._tag === "StaleView" ? `${e.step}@${e.epoch}` : e.message))

let racks = 0
const freshRack = () => `0123e456-789a-4bcd-8f01-${String(++racks).padStart(12, "0")}`

/** The same behaviour from both stores. */
const conformance = <R>(
  test: (name: string, self: () => Effect.Effect<void, unknown, R>) => void,
  makeStore: Effect.Effect<ControlPlaneStore.ControlPlaneStoreShape, unknown, R>
) => {
  test("a proposal needs the previous epoch finished and the last committed epoch the proposer saw", () =>
    Effect.gen(function* () {
      const store = yield* makeStore
      const rack = freshRack()
      assert.strictEqual(yield* staleStep(store.propose(rack, planAt(2, null))), "propose@2")
      yield* store.propose(rack, planAt(1, null))
      // A second driver with the same stale view proposes epoch 1 again; then one that skips the unfinished epoch.
      assert.strictEqual(yield* staleStep(store.propose(rack, planAt(1, null, "other"))), "propose@1")
      assert.strictEqual(yield* staleStep(store.propose(rack, planAt(2, null))), "propose@2")
      const loaded = yield* store.load(rack)
      assert.deepStrictEqual(
        loaded.configs.map((c) => [c.epoch, c.phase, c.request]),
        [[1, "Preparing", "r1"]]
      )
      assert.deepStrictEqual(loaded.configs[0], planAt(1, null))
    }))

  test("each step holds only from the phase it names", () =>
    Effect.gen(function* () {
      const store = yield* makeStore
      const rack = freshRack()
      const plan = planAt(1, null)
      yield* store.propose(rack, plan)
      assert.strictEqual(yield* staleStep(store.memberCommitted(rack, 1, sled(1), "direct")), "memberCommitted@1")
      assert.strictEqual(yield* staleStep(store.committed(rack, 1, 9)), "committed@1")
      yield* store.prepared(rack, 1, configOf(plan), [sled(1), sled(3)])
      assert.strictEqual(yield* staleStep(store.prepared(rack, 1, configOf(plan), [])), "prepared@1")
      assert.strictEqual(yield* staleStep(store.abort(rack, 1, Option.none())), "abort@1")
      yield* store.memberCommitted(rack, 1, sled(1), "direct")
      yield* store.memberCommitted(rack, 1, sled(1), "proxy")
      // Not every member has committed yet.
      assert.strictEqual(yield* staleStep(store.committed(rack, 1, 9)), "committed@1")
      for (const id of members.slice(1)) yield* store.memberCommitted(rack, 1, id, "proxy")
      yield* store.committed(rack, 1, 9)
      assert.strictEqual(yield* staleStep(store.committed(rack, 1, 10)), "committed@1")
      const [saved] = (yield* store.load(rack)).configs
      assert.strictEqual(saved?.phase, "Committed")
      assert.strictEqual(saved?.committedAt, 9)
      assert.isTrue(saved?.config !== null && saved?.config !== undefined && saved.config.epoch === 1)
      assert.deepStrictEqual(
        saved?.members.map((m) => [m.id.serialNumber, m.state, m.via]),
        [
          ["1", "Committed", "direct"],
          ["2", "Committed", "proxy"],
          ["3", "Committed", "proxy"],
          ["4", "Committed", "proxy"]
        ]
      )
    }))

  test("an abort proposes its successor in the same step, carrying the request", () =>
    Effect.gen(function* () {
      const store = yield* makeStore
      const rack = freshRack()
      yield* commitAll(store, rack, planAt(1, null))
      yield* store.propose(rack, planAt(2, 1, "add"))
      // A successor that does not fit rolls the abort back too.
      assert.strictEqual(yield* staleStep(store.abort(rack, 2, Option.some(planAt(4, 1, "add")))), "propose@4")
      assert.strictEqual((yield* store.load(rack)).configs[1]?.phase, "Preparing")
      yield* store.abort(rack, 2, Option.some(planAt(3, 1, "add")))
      assert.strictEqual(yield* staleStep(store.abort(rack, 2, Option.some(planAt(3, 1, "add")))), "abort@2")
      assert.deepStrictEqual(
        (yield* store.load(rack)).configs.map((c) => [c.epoch, c.lastCommittedEpoch, c.phase, c.request]),
        [
          [1, null, "Committed", "r1"],
          [2, 1, "Aborted", "add"],
          [3, 1, "Preparing", "add"]
        ]
      )
      // After an abort with no successor, the next proposal builds on the last committed epoch.
      yield* store.abort(rack, 3, Option.none())
      assert.strictEqual(yield* staleStep(store.propose(rack, planAt(4, 3))), "propose@4")
      yield* store.propose(rack, planAt(4, 1))
    }))
}

describe("ControlPlaneStore over a ledger", () => {
  conformance((name, self) => it.live(name, self), Effect.sync(ControlPlaneStore.memory))
})

layer(PgCluster.layerWithClient, { timeout: 60_000, excludeTestServices: true })(
  "ControlPlaneStore over PostgreSQL",
  (it) => {
    conformance((name, self) => it.effect(name, self), ControlPlaneStore.postgres)

    it.effect("of proposals racing for one epoch from separate connections, exactly one wins", () =>
      Effect.gen(function* () {
        const store = yield* ControlPlaneStore.postgres
        const rack = freshRack()
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i),
          (i) => Effect.exit(store.propose(rack, planAt(1, null, `racer-${i}`))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(outcomes.filter(Exit.isSuccess).length, 1)
        const configs = (yield* store.load(rack)).configs
        assert.strictEqual(configs.length, 1)
        assert.strictEqual(configs[0]?.members.length, 4)
      })
    )

    it.effect("replicas starting at once apply the migrations once", () =>
      Effect.gen(function* () {
        yield* Effect.all([ControlPlaneStore.postgres, ControlPlaneStore.postgres, ControlPlaneStore.postgres], {
          concurrency: "unbounded"
        })
        const sql = yield* SqlClient
        const applied = yield* sql<{ readonly name: string }>`SELECT name FROM tq_migrations`
        assert.deepStrictEqual(
          applied.map((r) => r.name),
          ["control_plane"]
        )
      })
    )

    it.effect("what the store acknowledged survives a crash of the server", () =>
      Effect.gen(function* () {
        const store = yield* ControlPlaneStore.postgres
        const cluster = yield* PgCluster
        const rack = freshRack()
        yield* commitAll(store, rack, planAt(1, null))
        yield* store.propose(rack, planAt(2, 1))
        const before = yield* store.load(rack)
        yield* cluster.crash
        assert.strictEqual((yield* Effect.flip(store.load(rack)))._tag, "StoreUnavailable")
        yield* cluster.start
        // The pool reconnects on a later statement.
        const after = yield* store.load(rack).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }))
        assert.deepStrictEqual(after, before)
      })
    )

    it.effect("a step that fails as its connection dies keeps its own typed error; other defects stay defects", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient
        const transaction = ControlPlaneStore.transaction(sql)
        const stale = new ControlPlaneStore.StaleView({ epoch: 2, step: "prepared" })
        // The step's connection is terminated, then the step fails: its rollback cannot run.
        const terminated = yield* Effect.exit(
          transaction(
            sql`SELECT pg_terminate_backend(pg_backend_pid())`.pipe(Effect.ignore, Effect.andThen(Effect.fail(stale)))
          )
        )
        assert.deepStrictEqual(terminated, Exit.fail(stale))
        // A step that fails on a healthy connection is rolled back and fails as it did.
        assert.deepStrictEqual(
          yield* Effect.exit(transaction(Effect.andThen(sql`SELECT 1`, Effect.fail(stale)))),
          Exit.fail(stale)
        )
        // A bug in a step is not dressed up as a store error.
        const bug = yield* Effect.exit(transaction(Effect.andThen(sql`SELECT 1`, Effect.die(new Error("bug")))))
        assert.isTrue(Exit.isFailure(bug) && Cause.hasDies(bug.cause) && !Cause.hasFails(bug.cause))
      })
    )

    it.effect("a transaction whose connection dies with the server fails with StoreUnavailable, not a defect", () =>
      Effect.gen(function* () {
        const store = yield* ControlPlaneStore.postgres
        const cluster = yield* PgCluster
        const sql = yield* SqlClient
        const rack = freshRack()
        // Another session holds the table, so the proposal's transaction waits inside its INSERT.
        const holder = yield* Effect.forkChild(
          sql.withTransaction(Effect.andThen(sql`LOCK TABLE tq_configurations`, Effect.never)).pipe(Effect.exit),
          { startImmediately: true }
        )
        const proposal = yield* Effect.forkChild(Effect.exit(store.propose(rack, planAt(1, null))), {
          startImmediately: true
        })
        yield* sql<{ readonly waiting: number }>`
          SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO tq_configurations%'`.pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (rows) => rows[0]?.waiting === 1 }),
          Effect.timeout("10 seconds")
        )
        yield* cluster.crash
        const outcome = yield* Fiber.join(proposal)
        assert.isTrue(Exit.isFailure(outcome) && !Cause.hasDies(outcome.cause))
        assert.deepStrictEqual(
          Exit.isFailure(outcome)
            ? Cause.findErrorOption(outcome.cause).pipe(Option.map((e) => e._tag))
            : Option.none(),
          Option.some("StoreUnavailable")
        )
        yield* Fiber.interrupt(holder)
        yield* cluster.start
      })
    )
  }
)
