/**
 * A throwaway PostgreSQL cluster for tests, benchmarks and campaigns: `initdb` in a fresh directory,
 * the postmaster on a free loopback port with its socket in that directory, trust authentication for
 * loopback only, stopped and removed when the scope closes. It can be crashed (an immediate shutdown:
 * no checkpoint, every connection dropped) and started again on the same data directory, so a test sees
 * PostgreSQL's own crash recovery.
 *
 * `initdb` refuses to run as root: as root, the cluster runs as the system user `tqpg` (created with
 * `useradd` if missing) through `setpriv`, which execs in place so signals reach the postmaster itself.
 * The binaries come from `TQ_PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin`.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PgClient } from "@effect/sql-pg"
import { Context, Deferred, Effect, Layer, Option, Redacted, Schema, type Scope } from "effect"
import { freePort } from "./ProcessRack.ts"

/** The cluster could not be created or did not start in time. */
export class PgClusterError extends Schema.TaggedError<PgClusterError>()("PgClusterError", {
  step: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `throwaway PostgreSQL: ${this.step} failed: ${this.reason}; install PostgreSQL (apt-get install postgresql) or set TQ_PG_BIN`
  }
}

export interface PgClusterShape {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  /** Starts the postmaster if it is not running and waits until it accepts connections. */
  readonly start: Effect.Effect<void, PgClusterError>
  /** A crash: an immediate shutdown (SIGQUIT: no checkpoint, every backend dropped); waits until it is gone. */
  readonly crash: Effect.Effect<void>
  /** Everything the server printed. */
  readonly log: () => string
}

const user = "tqpg"

const binDir = (): Option.Option<string> => {
  const fromEnv = process.env.TQ_PG_BIN
  if (fromEnv !== undefined && fromEnv !== "") return Option.some(fromEnv)
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return Option.none()
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return Option.map(Option.fromNullishOr(versions[0]), (v) => join(root, v, "bin"))
}

const isRoot = () => process.getuid?.() === 0

/** The command line that runs `args` as the cluster's owner. */
const asOwner = (args: ReadonlyArray<string>): ReadonlyArray<string> =>
  isRoot() ? ["setpriv", `--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", ...args] : args

const attempt = (step: string, f: () => void) =>
  Effect.try({
    try: f,
    catch: (e) =>
      new PgClusterError({ step, reason: e instanceof Error ? (e.message.split("\n")[0] ?? "") : String(e) })
  })

/** Creates and starts a cluster in the current scope. */
export const make: Effect.Effect<PgClusterShape, PgClusterError, Scope.Scope> = Effect.gen(function* () {
  const bin = yield* Effect.fromOption(binDir()).pipe(
    Effect.mapError(() => new PgClusterError({ step: "finding the binaries", reason: "no PostgreSQL found" }))
  )
  const dir = yield* Effect.acquireRelease(
    attempt("creating the directory", () => undefined).pipe(Effect.map(() => mkdtempSync(join(tmpdir(), "tq-pg-")))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  if (isRoot()) {
    yield* attempt("creating the user tqpg", () => {
      if (spawnSync("id", ["-u", user], { stdio: "ignore" }).status !== 0)
        execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user])
      const uid = Number(execFileSync("id", ["-u", user]).toString().trim())
      const gid = Number(execFileSync("id", ["-g", user]).toString().trim())
      chownSync(dir, uid, gid)
    })
  }
  const data = join(dir, "data")
  yield* attempt("initdb", () => {
    const [command = "", ...args] = asOwner([
      join(bin, "initdb"),
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--no-instructions"
    ])
    execFileSync(command, args, { stdio: "pipe" })
  })
  const port = yield* freePort
  let output = ""
  let current: { child: ChildProcess; ready: Deferred.Deferred<boolean>; exited: Deferred.Deferred<void> } | undefined

  const start = Effect.suspend(() => {
    if (current !== undefined) return Deferred.await(current.ready).pipe(Effect.asVoid)
    const [command = "", ...args] = asOwner([
      join(bin, "postgres"),
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=200"
    ])
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] })
    const entry = { child, ready: Deferred.makeUnsafe<boolean>(), exited: Deferred.makeUnsafe<void>() }
    current = entry
    const collect = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      if (output.includes("database system is ready to accept connections")) {
        Deferred.doneUnsafe(entry.ready, Effect.succeed(true))
      }
    }
    child.stdout?.on("data", collect)
    child.stderr?.on("data", collect)
    child.on("exit", () => {
      if (current === entry) current = undefined
      Deferred.doneUnsafe(entry.ready, Effect.succeed(false))
      Deferred.doneUnsafe(entry.exited, Effect.void)
    })
    // Every start prints the line again: only the text after this start counts.
    output = ""
    return Deferred.await(entry.ready).pipe(
      Effect.timeoutOption("30 seconds"),
      Effect.flatMap((ready) =>
        Option.getOrElse(ready, () => false)
          ? Effect.void
          : Effect.fail(new PgClusterError({ step: "starting the server", reason: output.split("\n").at(-2) ?? "" }))
      )
    )
  })

  // SIGQUIT is PostgreSQL's immediate shutdown: the backends go with it and the next start runs crash recovery.
  const crash = Effect.suspend(() => {
    const entry = current
    if (entry === undefined) return Effect.void
    entry.child.kill("SIGQUIT")
    return Deferred.await(entry.exited)
  })

  yield* Effect.addFinalizer(() => crash.pipe(Effect.timeoutOption("10 seconds")))
  yield* start
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    crash,
    log: () => output
  }
})

/** A throwaway cluster as a service: `layer` starts it, and stops and removes it with the layer. */
export class PgCluster extends Context.Service<PgCluster, PgClusterShape>()("effect-trust-quorum/testing/PgCluster") {
  static readonly layer = Layer.effect(PgCluster, make)
  /** The cluster and a `PgClient` / `SqlClient` connected to it. */
  static readonly layerWithClient = Layer.unwrap(
    PgCluster.useSync((cluster) => PgClient.layer({ url: Redacted.make(cluster.url) }))
  ).pipe(Layer.provideMerge(PgCluster.layer))
}
