/**
 * Where the control plane keeps its decisions: one plan per (rack, epoch) and its progress. Every write is
 * a conditional step that names the state it starts from — propose the next epoch only if the previous one
 * is finished and the last committed one is what the proposer saw, move Preparing → Committing,
 * record a member's commit, move Committing → Committed, abort a Preparing epoch and propose its successor
 * in the same step — so a driver acting on a stale view gets a typed `StaleView` and re-reads instead of
 * overwriting another driver's decision.
 *
 * Two stores: `fromLedger` (a ledger file; the embedded default for one driver process, no server) and
 * `postgres` (PostgreSQL through `@effect/sql-pg`; any number of driver replicas share one database, and
 * the database decides: one row per (rack id, epoch), a partial unique index allows one unfinished epoch
 * per rack, and each step is one conditional statement or one transaction). The SQL is in
 * `PgMigrations.ts` and `docs/CONTROL-PLANE-STORE.md` lists what a Postgres-wire database must support.
 */
import { PgClient } from "@effect/sql-pg"
import { Array as Arr, Cause, Context, Effect, Layer, Option, Redacted, Result, Schema, Semaphore } from "effect"
import * as Migrator from "effect/sql/Migrator"
import { SqlClient } from "effect/sql/SqlClient"
import { SqlError } from "effect/sql/SqlError"
import * as Ledger from "../runtime/Ledger.ts"
import { BaseboardId } from "../types/BaseboardId.ts"
import { Configuration } from "../types/Configuration.ts"
import { Epoch } from "../types/Epoch.ts"
import { RackId } from "../types/RackId.ts"
import * as PgMigrations from "./PgMigrations.ts"

/** A member's progress in one configuration. */
export const MemberProgress = Schema.Struct({
  id: BaseboardId,
  state: Schema.Literals(["Unacked", "Prepared", "Committed"]),
  via: Schema.NullOr(Schema.Literals(["direct", "proxy"]))
})
export type MemberProgress = typeof MemberProgress.Type

/** One configuration as the driver tracks it. */
export const PlannedConfig = Schema.Struct({
  epoch: Epoch,
  lastCommittedEpoch: Schema.NullOr(Epoch),
  coordinator: BaseboardId,
  threshold: Schema.Int,
  commitCrashTolerance: Schema.Int,
  members: Schema.Array(MemberProgress),
  phase: Schema.Literals(["Preparing", "Committing", "Committed", "Aborted"]),
  config: Schema.NullOr(Configuration),
  startedAt: Schema.Number,
  committedAt: Schema.NullOr(Schema.Number),
  /** The membership request this plan carries; a plan proposed again after an abort keeps it. */
  request: Schema.optionalKey(Schema.String)
})
export type PlannedConfig = typeof PlannedConfig.Type

/** Everything the store holds for one rack, oldest epoch first. */
export const DriverState = Schema.Struct({ rackId: RackId, configs: Schema.Array(PlannedConfig) })
export type DriverState = typeof DriverState.Type

/** The store no longer holds what the caller saw: another driver moved first. Re-read and continue. */
export class StaleView extends Schema.TaggedError<StaleView>()("StaleView", {
  epoch: Epoch,
  step: Schema.Literals(["propose", "prepared", "memberCommitted", "committed", "abort"])
}) {
  override get message(): string {
    return `${this.step} of epoch ${this.epoch} no longer applies: another driver changed the store first; re-read and continue`
  }
}

/** The store could not be read or written; nothing was decided. */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("StoreUnavailable", {
  store: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `the control-plane store (${this.store}) failed: ${this.reason}; retry — every step is idempotent`
  }
}

export type StoreError = StaleView | StoreUnavailable

export interface ControlPlaneStoreShape {
  readonly describe: string
  /** Every plan of the rack, oldest epoch first. */
  readonly load: (rackId: RackId) => Effect.Effect<DriverState, StoreUnavailable>
  /**
   * Records `plan` (phase Preparing) if its epoch is one above every recorded epoch, every recorded epoch is
   * finished (Committed or Aborted), and its last committed epoch is the rack's.
   */
  readonly propose: (rackId: RackId, plan: PlannedConfig) => Effect.Effect<void, StoreError>
  /** Preparing → Committing with the coordinator's configuration; `acked` members become Prepared. */
  readonly prepared: (
    rackId: RackId,
    epoch: Epoch,
    config: Configuration,
    acked: ReadonlyArray<BaseboardId>
  ) => Effect.Effect<void, StoreError>
  /** A member acknowledged the commit of a Committing epoch (idempotent). */
  readonly memberCommitted: (
    rackId: RackId,
    epoch: Epoch,
    member: BaseboardId,
    via: "direct" | "proxy"
  ) => Effect.Effect<void, StoreError>
  /** Committing → Committed, once every member committed. */
  readonly committed: (rackId: RackId, epoch: Epoch, at: number) => Effect.Effect<void, StoreError>
  /** Preparing → Aborted, and `next` proposed in the same step (so the request it carries is never dropped). */
  readonly abort: (rackId: RackId, epoch: Epoch, next: Option.Option<PlannedConfig>) => Effect.Effect<void, StoreError>
}

/** The control plane's store. */
export class ControlPlaneStore extends Context.Service<ControlPlaneStore, ControlPlaneStoreShape>()(
  "effect-trust-quorum/ControlPlaneStore"
) {
  /** The embedded store: a ledger file (one driver process). */
  static readonly layerFile = (paths: ReadonlyArray<string>) => Layer.sync(ControlPlaneStore, () => file(paths))
  /** The replicated store: PostgreSQL at `url` (`postgres://user@host:port/db`); migrations run on start. */
  static readonly layerPostgres = (url: string) =>
    Layer.effect(ControlPlaneStore, postgres).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(url) })))
}

// ---- the steps as pure transitions (the file store applies them to its state) ----------------------

/** The plan with the highest epoch. */
export const latestOf = (configs: ReadonlyArray<PlannedConfig>) =>
  configs.reduce<PlannedConfig | undefined>((a, c) => (a === undefined || c.epoch > a.epoch ? c : a), undefined)

/** The committed plan with the highest epoch. */
export const lastCommittedOf = (configs: ReadonlyArray<PlannedConfig>) =>
  latestOf(configs.filter((c) => c.phase === "Committed"))

const canPropose = (configs: ReadonlyArray<PlannedConfig>, plan: PlannedConfig) => {
  const latest = latestOf(configs)
  return (
    plan.phase === "Preparing" &&
    plan.epoch === (latest?.epoch ?? 0) + 1 &&
    (latest === undefined || latest.phase === "Committed" || latest.phase === "Aborted") &&
    plan.lastCommittedEpoch === (lastCommittedOf(configs)?.epoch ?? null)
  )
}

type Transition = (configs: ReadonlyArray<PlannedConfig>) => Result.Result<ReadonlyArray<PlannedConfig>, StaleView>

const updateAt =
  (
    epoch: Epoch,
    step: StaleView["step"],
    from: PlannedConfig["phase"],
    f: (plan: PlannedConfig) => PlannedConfig | undefined
  ): Transition =>
  (configs) => {
    const plan = configs.find((c) => c.epoch === epoch)
    const next = plan?.phase === from ? f(plan) : undefined
    return next === undefined
      ? Result.fail(new StaleView({ epoch, step }))
      : Result.succeed(configs.map((c) => (c.epoch === epoch ? next : c)))
  }

const transitions = {
  propose:
    (plan: PlannedConfig): Transition =>
    (configs) =>
      canPropose(configs, plan)
        ? Result.succeed([...configs, plan])
        : Result.fail(new StaleView({ epoch: plan.epoch, step: "propose" })),
  prepared: (epoch: Epoch, config: Configuration, acked: ReadonlyArray<BaseboardId>): Transition =>
    updateAt(epoch, "prepared", "Preparing", (plan) => ({
      ...plan,
      phase: "Committing",
      config,
      members: plan.members.map((m) =>
        m.state === "Unacked" && acked.some((a) => a.key === m.id.key) ? { ...m, state: "Prepared" } : m
      )
    })),
  memberCommitted: (epoch: Epoch, member: BaseboardId, via: "direct" | "proxy"): Transition =>
    updateAt(epoch, "memberCommitted", "Committing", (plan) => ({
      ...plan,
      members: plan.members.map((m) =>
        m.id.key === member.key && m.state !== "Committed" ? { ...m, state: "Committed", via } : m
      )
    })),
  committed: (epoch: Epoch, at: number): Transition =>
    updateAt(epoch, "committed", "Committing", (plan) =>
      plan.members.every((m) => m.state === "Committed") ? { ...plan, phase: "Committed", committedAt: at } : undefined
    ),
  abort:
    (epoch: Epoch, next: Option.Option<PlannedConfig>): Transition =>
    (configs) =>
      Result.flatMap(
        updateAt(epoch, "abort", "Preparing", (plan) => ({ ...plan, phase: "Aborted" }))(configs),
        (aborted) => (Option.isSome(next) ? transitions.propose(next.value)(aborted) : Result.succeed(aborted))
      )
}

/** A store over a ledger: the state in memory, every step saved before it returns (one driver process). */
export const fromLedger = (ledger: Ledger.Ledger<DriverState>): ControlPlaneStoreShape => {
  const lock = Semaphore.makeUnsafe(1)
  let cached: DriverState | undefined
  const unavailable = (reason: string) => new StoreUnavailable({ store: ledger.describe, reason })
  const current = (rackId: RackId) =>
    Effect.gen(function* () {
      if (cached === undefined) {
        const loaded = yield* ledger.load.pipe(Effect.mapError((e) => unavailable(e.message)))
        cached = Option.getOrElse(loaded, () => ({ rackId, configs: [] }))
      }
      if (cached.rackId !== rackId) return yield* unavailable(`it holds rack ${cached.rackId}, not ${rackId}`)
      return cached
    })
  const apply = (rackId: RackId, transition: Transition) =>
    lock.withPermits(1)(
      Effect.gen(function* () {
        const state = yield* current(rackId)
        const configs = yield* Effect.fromResult(transition(state.configs))
        const next = { rackId, configs }
        yield* ledger.save(next).pipe(Effect.mapError((e) => unavailable(e.message)))
        cached = next
      })
    )
  return {
    describe: ledger.describe,
    load: (rackId) => lock.withPermits(1)(current(rackId)),
    propose: (rackId, plan) => apply(rackId, transitions.propose(plan)),
    prepared: (rackId, epoch, config, acked) => apply(rackId, transitions.prepared(epoch, config, acked)),
    memberCommitted: (rackId, epoch, member, via) => apply(rackId, transitions.memberCommitted(epoch, member, via)),
    committed: (rackId, epoch, at) => apply(rackId, transitions.committed(epoch, at)),
    abort: (rackId, epoch, next) => apply(rackId, transitions.abort(epoch, next))
  }
}

/** The embedded store: a ledger file at `paths` (one driver process, no server). */
export const file = (paths: ReadonlyArray<string>): ControlPlaneStoreShape =>
  fromLedger(Ledger.file({ paths, schema: DriverState }))

/** A store in memory, for tests. */
export const memory = (): ControlPlaneStoreShape => fromLedger(Ledger.memory<DriverState>())

// ---- PostgreSQL ------------------------------------------------------------------------------------

const encodeConfig = Schema.encodeEffect(Schema.fromJsonString(Schema.toCodecJson(Configuration)))
const decodePlans = Schema.decodeUnknownEffect(Schema.Array(Schema.toCodecJson(PlannedConfig)))

/** What a store step fails with: its own error, or the SQL client's. */
const isStoreFailure = (u: unknown): u is StoreError | SqlError =>
  u instanceof StaleView || u instanceof StoreUnavailable || u instanceof SqlError

/** A unique violation: another driver inserted the same (rack, epoch) or an unfinished epoch first. */
const isUniqueViolation = (e: SqlError) => e.reason._tag === "UniqueViolation"

/**
 * How the PostgreSQL store runs a step of several statements: one transaction. If its connection is lost,
 * `withTransaction` cannot roll back and dies — with the rollback's `SqlError`, and with the step's own
 * failure turned into a defect too when the step had failed (seen in the replica campaign, and in
 * `ControlPlaneStore.test.ts`: `Die(StaleView), Die(SqlError)` for a `StaleView` whose connection was
 * terminated). Both are failures again here: the step's own error first (a `StaleView` re-reads, as it would
 * have), else the `SqlError`, an outage — whether a COMMIT in flight landed is unknown, and every step is safe
 * to retry or re-read. Any other defect stays one.
 */
export const transaction =
  (sql: SqlClient) =>
  <A>(effect: Effect.Effect<A, StoreError | SqlError>): Effect.Effect<A, StoreError | SqlError> =>
    sql.withTransaction(effect).pipe(
      Effect.catchCause((cause) => {
        const defects = cause.reasons.filter(Cause.isDieReason).map((reason) => reason.defect)
        const lost = defects.filter(isStoreFailure)
        const [first] = lost
        if (first === undefined || lost.length < defects.length) return Effect.failCause(cause)
        const failures = [...cause.reasons.filter(Cause.isFailReason).map((reason) => reason.error), ...lost]
        return Effect.fail(failures.find((e) => !(e instanceof SqlError)) ?? first)
      })
    )

/**
 * A store in PostgreSQL through the `SqlClient` in context; runs the migrations first. Each step is one
 * conditional statement (or one transaction): zero rows affected, or a unique violation, is a `StaleView`.
 */
export const postgres: Effect.Effect<ControlPlaneStoreShape, StoreUnavailable, SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient
  const store = "postgres"
  const unavailable = (e: SqlError) => new StoreUnavailable({ store, reason: e.message })
  yield* Migrator.make({})({ loader: Migrator.fromRecord(PgMigrations.migrations), table: PgMigrations.table }).pipe(
    Effect.mapError((e) => new StoreUnavailable({ store, reason: `migrations: ${e.message}` }))
  )

  /** The condition of a step held only if it touched a row; otherwise another driver moved first. */
  const touched = (epoch: Epoch, name: StaleView["step"]) => (rows: ReadonlyArray<unknown>) =>
    rows.length === 0 ? Effect.fail(new StaleView({ epoch, step: name })) : Effect.void

  /** A unique violation (another driver inserted that epoch, or an unfinished one, first) is a StaleView too. */
  const sqlErrors =
    (epoch: Epoch, name: StaleView["step"]) =>
    <A>(effect: Effect.Effect<A, StoreError | SqlError>): Effect.Effect<A, StoreError> =>
      effect.pipe(
        Effect.catchTag("SqlError", (e) =>
          Effect.fail(isUniqueViolation(e) ? new StaleView({ epoch, step: name }) : unavailable(e))
        )
      )

  /** Inserts a plan under the proposal's conditions; fails with StaleView (rolling back the transaction) if they do not hold. */
  const insertPlan = (rackId: RackId, plan: PlannedConfig) =>
    Effect.gen(function* () {
      const inserted = yield* sql`
        INSERT INTO tq_configurations (rack_id, epoch, last_committed_epoch, coordinator_part, coordinator_serial,
          threshold, commit_crash_tolerance, phase, request, started_at)
        SELECT ${rackId}, ${plan.epoch}, ${plan.lastCommittedEpoch}, ${plan.coordinator.partNumber},
          ${plan.coordinator.serialNumber}, ${plan.threshold}, ${plan.commitCrashTolerance}, 'Preparing',
          ${plan.request ?? null}, ${plan.startedAt}
        WHERE ${plan.epoch}::bigint = 1 + COALESCE((SELECT max(epoch) FROM tq_configurations WHERE rack_id = ${rackId}), 0)
          AND NOT EXISTS (SELECT 1 FROM tq_configurations
                          WHERE rack_id = ${rackId} AND phase IN ('Preparing', 'Committing'))
          AND (SELECT max(epoch) FROM tq_configurations WHERE rack_id = ${rackId} AND phase = 'Committed')
              IS NOT DISTINCT FROM ${plan.lastCommittedEpoch}::bigint
        RETURNING epoch`
      yield* touched(plan.epoch, "propose")(inserted)
      const rows: ReadonlyArray<Record<string, unknown>> = plan.members.map((m, position) => ({
        rack_id: rackId,
        epoch: plan.epoch,
        position,
        member_part: m.id.partNumber,
        member_serial: m.id.serialNumber,
        state: m.state,
        via: m.via
      }))
      if (Arr.isReadonlyArrayNonEmpty(rows)) yield* sql`INSERT INTO tq_members ${sql.insert(rows)}`
    })

  const shape: ControlPlaneStoreShape = {
    describe: store,
    load: (rackId) =>
      sql<{ readonly plan: unknown }>`
        SELECT jsonb_build_object(
            'epoch', c.epoch, 'lastCommittedEpoch', c.last_committed_epoch,
            'coordinator', jsonb_build_object('partNumber', c.coordinator_part, 'serialNumber', c.coordinator_serial),
            'threshold', c.threshold, 'commitCrashTolerance', c.commit_crash_tolerance, 'phase', c.phase,
            'config', c.config, 'startedAt', c.started_at, 'committedAt', c.committed_at,
            'members', (SELECT jsonb_agg(jsonb_build_object(
                            'id', jsonb_build_object('partNumber', m.member_part, 'serialNumber', m.member_serial),
                            'state', m.state, 'via', m.via) ORDER BY m.position)
                        FROM tq_members m WHERE m.rack_id = c.rack_id AND m.epoch = c.epoch)
          ) || jsonb_strip_nulls(jsonb_build_object('request', c.request)) AS plan
        FROM tq_configurations c WHERE c.rack_id = ${rackId} ORDER BY c.epoch`.pipe(
        Effect.mapError(unavailable),
        Effect.flatMap((rows) => decodePlans(rows.map((r) => r.plan))),
        Effect.map((configs) => ({ rackId, configs })),
        Effect.catchTag("SchemaError", (e) => Effect.fail(new StoreUnavailable({ store, reason: e.message })))
      ),
    propose: (rackId, plan) => insertPlan(rackId, plan).pipe(transaction(sql), sqlErrors(plan.epoch, "propose")),
    prepared: (rackId, epoch, config, acked) =>
      Effect.gen(function* () {
        const json = yield* encodeConfig(config).pipe(
          Effect.mapError((e) => new StoreUnavailable({ store, reason: e.message }))
        )
        const moved = yield* sql`
          UPDATE tq_configurations SET phase = 'Committing', config = ${json}::jsonb, updated_at = clock_timestamp()
          WHERE rack_id = ${rackId} AND epoch = ${epoch} AND phase = 'Preparing' RETURNING epoch`
        yield* touched(epoch, "prepared")(moved)
        if (acked.length > 0) {
          yield* sql`
            UPDATE tq_members SET state = 'Prepared'
            WHERE rack_id = ${rackId} AND epoch = ${epoch} AND state = 'Unacked'
              AND (member_part || ':' || member_serial) IN ${sql.in(acked.map((id) => id.key))}`
        }
      }).pipe(transaction(sql), sqlErrors(epoch, "prepared")),
    memberCommitted: (rackId, epoch, member, via) =>
      sql`
        UPDATE tq_members m SET state = 'Committed', via = COALESCE(m.via, ${via})
        FROM tq_configurations c
        WHERE m.rack_id = ${rackId} AND m.epoch = ${epoch}
          AND m.member_part = ${member.partNumber} AND m.member_serial = ${member.serialNumber}
          AND c.rack_id = m.rack_id AND c.epoch = m.epoch AND c.phase = 'Committing'
        RETURNING m.position`.pipe(
        Effect.flatMap(touched(epoch, "memberCommitted")),
        sqlErrors(epoch, "memberCommitted")
      ),
    committed: (rackId, epoch, at) =>
      sql`
        UPDATE tq_configurations SET phase = 'Committed', committed_at = ${at}, updated_at = clock_timestamp()
        WHERE rack_id = ${rackId} AND epoch = ${epoch} AND phase = 'Committing'
          AND NOT EXISTS (SELECT 1 FROM tq_members
                          WHERE rack_id = ${rackId} AND epoch = ${epoch} AND state <> 'Committed')
        RETURNING epoch`.pipe(Effect.flatMap(touched(epoch, "committed")), sqlErrors(epoch, "committed")),
    abort: (rackId, epoch, next) =>
      Effect.gen(function* () {
        const aborted = yield* sql`
          UPDATE tq_configurations SET phase = 'Aborted', updated_at = clock_timestamp()
          WHERE rack_id = ${rackId} AND epoch = ${epoch} AND phase = 'Preparing' RETURNING epoch`
        yield* touched(epoch, "abort")(aborted)
        if (Option.isSome(next)) yield* insertPlan(rackId, next.value)
      }).pipe(transaction(sql), sqlErrors(epoch, "abort"))
  }
  return shape
})
