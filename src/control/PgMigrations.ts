/**
 * The PostgreSQL schema of the control-plane store, as numbered migrations that `ControlPlaneStore.postgres`
 * runs on start (effect's `Migrator`, recorded in `tq_migrations`; concurrent replicas serialize on a
 * table lock, so starting several at once is safe). Migrations are append-only: never edit a shipped one.
 *
 * One row per (rack id, epoch) in `tq_configurations`: the primary key is the "one decision per epoch",
 * and the partial unique index `tq_one_unfinished_per_rack` lets at most one epoch per rack be Preparing or
 * Committing. Members and their progress are rows of `tq_members`. Epochs and times are `bigint`
 * (milliseconds since the epoch for times); the coordinator's configuration is `jsonb` (the library's JSON
 * codec of `Configuration`, share digests as base64).
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

/** The table the migrator records applied migrations in. */
export const table = "tq_migrations"

const v1 = [
  `CREATE TABLE tq_configurations (
    rack_id text NOT NULL,
    epoch bigint NOT NULL CHECK (epoch >= 1),
    last_committed_epoch bigint CHECK (last_committed_epoch < epoch),
    coordinator_part text NOT NULL,
    coordinator_serial text NOT NULL,
    threshold integer NOT NULL CHECK (threshold >= 1),
    commit_crash_tolerance integer NOT NULL CHECK (commit_crash_tolerance >= 0),
    phase text NOT NULL CHECK (phase IN ('Preparing', 'Committing', 'Committed', 'Aborted')),
    config jsonb,
    request text,
    started_at bigint NOT NULL,
    committed_at bigint,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (rack_id, epoch),
    CHECK ((phase IN ('Committing', 'Committed')) = (config IS NOT NULL) OR phase = 'Aborted')
  )`,
  `CREATE UNIQUE INDEX tq_one_unfinished_per_rack ON tq_configurations (rack_id)
    WHERE phase IN ('Preparing', 'Committing')`,
  `CREATE TABLE tq_members (
    rack_id text NOT NULL,
    epoch bigint NOT NULL,
    position integer NOT NULL CHECK (position >= 0),
    member_part text NOT NULL,
    member_serial text NOT NULL,
    state text NOT NULL CHECK (state IN ('Unacked', 'Prepared', 'Committed')),
    via text CHECK (via IN ('direct', 'proxy')),
    PRIMARY KEY (rack_id, epoch, position),
    UNIQUE (rack_id, epoch, member_part, member_serial),
    FOREIGN KEY (rack_id, epoch) REFERENCES tq_configurations (rack_id, epoch)
  )`
]

/** Migrations by `<id>_<name>`, the form `Migrator.fromRecord` reads. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient>> = {
  "1_control_plane": Effect.gen(function* () {
    const sql = yield* SqlClient
    for (const statement of v1) yield* sql.unsafe(statement)
  })
}
