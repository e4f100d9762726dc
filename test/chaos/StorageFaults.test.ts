/**
 * Storage faults against the file ledger: a writer process (`ledger-writer.ts`) is SIGKILLed at random
 * points inside its saves, one copy's directory is made unwritable, and a copy is bit-flipped. After
 * every round the ledger must load, never as new or corrupt, at the last acknowledged counter or one
 * past it (a save in flight when the kill landed may or may not have reached a copy).
 *
 * `TQ_STORAGE_KILLS` sets the number of plain kill rounds (default 20); `TQ_STORAGE_SEED` (default 1) picks the
 * kill delays and the flipped byte (the seed is printed with the figures).
 */
import { spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Logger, Option, Result } from "effect"
import * as Ledger from "../../src/runtime/Ledger.ts"
import { seeded } from "../../src/testing/SeededRng.ts"
import { ledgerPaths, WriterState } from "./ledger-writer.ts"

const kills = Number(process.env.TQ_STORAGE_KILLS ?? 20)
const seed = process.env.TQ_STORAGE_SEED ?? "1"
const writerScript = fileURLToPath(new URL("./ledger-writer.ts", import.meta.url))
const copies = 2
// The default run takes about half a second per round (mostly the child's start-up) on a quiet machine, and
// 1.2 s with another test file running beside it on 2 cores (27 s in all); the timeout only guards against a
// hang, so it allows 3 s a round (66 s), and larger runs get the same per-round budget.
const timeout = Math.max(60_000, (kills + 2) * 3_000)

/** The generation a ledger copy claims (-1 when it cannot be read); only to classify where a kill landed. */
const generationOf = (path: string): number => {
  const match = existsSync(path) ? /"generation":(\d+)/.exec(readFileSync(path, "utf8")) : null
  return match ? Number(match[1]) : -1
}

/** How a writer process ended, and every counter it acknowledged. */
interface WriterRun {
  readonly acked: ReadonlyArray<number>
  readonly signal: NodeJS.Signals | null
  readonly code: number | null
  readonly stderr: string
  readonly unexpected: ReadonlyArray<string>
}

/**
 * Runs one writer on `dir` that SIGKILLs itself `delayMs` after its first acknowledgement, waits
 * (bounded) for that acknowledgement and then until it has exited and its stdout is drained. The
 * finalizer kills it on any other way out.
 */
const killWriter = (dir: string, delayMs: number) =>
  Effect.gen(function* () {
    const firstAck = Deferred.makeUnsafe<void>()
    const closed = Deferred.makeUnsafe<void>()
    const acked: Array<number> = []
    const unexpected: Array<string> = []
    let stdout = ""
    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(
          process.execPath,
          ["--experimental-strip-types", "--no-warnings", writerScript, dir, String(copies), String(delayMs)],
          { stdio: ["ignore", "pipe", "pipe"] }
        )
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString("utf8")
          const lines = stdout.split("\n")
          // Only whole lines count: the last element is an unterminated rest (usually "").
          stdout = lines.pop() ?? ""
          for (const line of lines) {
            const match = /^acked (\d+)$/.exec(line)
            if (match) acked.push(Number(match[1]))
            else unexpected.push(line)
          }
          if (acked.length > 0) Deferred.doneUnsafe(firstAck, Effect.void)
        })
        child.stderr.on("data", (d: Buffer) => {
          stderr += d.toString("utf8")
        })
        child.on("close", () => Deferred.doneUnsafe(closed, Effect.void))
        return child
      }),
      (child) =>
        Effect.sync(() => child.kill("SIGKILL")).pipe(
          Effect.andThen(Deferred.await(closed).pipe(Effect.timeout("5 seconds"), Effect.ignore))
        )
    )
    yield* Deferred.await(firstAck).pipe(
      Effect.raceFirst(Deferred.await(closed)),
      Effect.timeout("15 seconds"),
      Effect.orDie
    )
    if (acked.length === 0) return yield* Effect.die(new Error(`writer exited without an ack: ${stderr}`))
    // The writer kills itself `delayMs` after its first acknowledgement, wherever its saves are by then.
    yield* Deferred.await(closed).pipe(Effect.timeout("5 seconds"), Effect.orDie)
    if (stdout !== "") unexpected.push(stdout)
    const run: WriterRun = { acked, signal: child.signalCode, code: child.exitCode, stderr, unexpected }
    return run
  }).pipe(Effect.scoped)

/** Loads the ledger as a restarted node would, collecting its warnings instead of printing them. */
const loadLedger = (paths: ReadonlyArray<string>) => {
  const warnings: Array<string> = []
  const collect = Logger.make((options) => {
    warnings.push(JSON.stringify(options.message))
  })
  return Effect.result(Ledger.file({ paths, schema: WriterState }).load).pipe(
    Effect.provide(Logger.layer([collect])),
    Effect.map((loaded) => ({ loaded, warnings }))
  )
}

describe("storage faults", () => {
  it.live(
    `${kills} SIGKILLs inside ledger writes, an unwritable copy and a bit flip: no acknowledged write is lost`,
    () =>
      Effect.gen(function* () {
        console.log(`storage-faults seed=${seed} (TQ_STORAGE_SEED=${seed} replays the delays and the flip)`)
        const rng = seeded(`storage-faults/${seed}`)
        const draw = (bound: number) => {
          const bytes = new Uint8Array(4)
          rng(bytes)
          return new DataView(bytes.buffer).getUint32(0) % bound
        }
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "tq-storage-faults-"))),
          (dir) =>
            Effect.sync(() => {
              // A failed read-only round must not leave a directory that cannot be emptied.
              for (const path of ledgerPaths(dir, copies))
                if (existsSync(dirname(path))) chmodSync(dirname(path), 0o700)
              rmSync(dir, { recursive: true, force: true })
            })
        )
        const paths = ledgerPaths(dir, copies)
        for (const path of paths) mkdirSync(dirname(path), { recursive: true })
        const [first, second] = paths
        if (first === undefined || second === undefined) return yield* Effect.die(new Error("two ledger paths"))

        // Round 0 creates the ledger; the bit flip follows a plain round, so both copies hold at least
        // the last ack. The unwritable round comes later and is never directly before the flip: after
        // it only one copy holds the newest acks, and flipping that one is two faults, not one.
        const total = kills + 2
        const flipRound = 1
        const readOnlyRound = Math.max(2, Math.floor(total / 2))

        const figures = {
          suite: "storage-faults",
          seed,
          rounds: 0,
          kills: 0,
          tornTempFiles: 0,
          splitCopies: 0,
          inFlightLanded: 0,
          acked: 0,
          invariantChecks: 0,
          readOnlyFault: "none",
          lost: 0,
          loadedAsNew: 0,
          corrupt: 0
        }
        const violations: Array<string> = []
        let lastAcked = 0
        let loadedCounter = 0

        /** The invariant after a round: loads, is not new, holds the last ack and at most one more. */
        const check = (
          label: string,
          loaded: Result.Result<Option.Option<typeof WriterState.Type>, Ledger.LoadError>
        ) => {
          figures.invariantChecks++
          if (Result.isFailure(loaded)) {
            figures.corrupt++
            violations.push(`${label}: ${loaded.failure.message}`)
          } else if (Option.isNone(loaded.success)) {
            figures.loadedAsNew++
            violations.push(`${label}: loaded as new after ack ${lastAcked}`)
          } else {
            const counter = loaded.success.value.counter
            if (counter < lastAcked) {
              figures.lost++
              violations.push(`${label}: loaded ${counter} < acked ${lastAcked}`)
            } else if (counter > lastAcked + 1) {
              violations.push(`${label}: loaded ${counter} > acked ${lastAcked} + 1`)
            } else if (counter === lastAcked + 1) {
              figures.inFlightLanded++
            }
            loadedCounter = counter
          }
        }

        for (let round = 0; round < total && violations.length === 0; round++) {
          const label = `round ${round} (seed ${seed})`
          const delayMs = draw(31)

          if (round === flipRound) {
            const text = readFileSync(second, "utf8")
            const start = text.indexOf('"payload":"') + '"payload":"'.length
            // Inside the payload's letters: XOR 1 keeps it a valid JSON string, so the checksum (not the
            // parser) has to catch it.
            const at = start + 16 + draw(1024)
            const bytes = Buffer.from(text, "utf8")
            bytes[at] = (bytes[at] ?? 0) ^ 1
            writeFileSync(second, bytes)
            const { loaded, warnings } = yield* loadLedger(paths)
            check(`${label} after the flip`, loaded)
            assert.isTrue(
              warnings.some((w) => w.includes(second) && w.includes("checksum mismatch")),
              `${label}: the flipped copy was not reported invalid: ${warnings.join("; ")}`
            )
          }

          let untouched: Buffer | undefined
          if (round === readOnlyRound) {
            untouched = readFileSync(first)
            chmodSync(dirname(first), 0o500)
            // Root ignores directory modes; then a directory where the temp file goes fails the write.
            const probe = join(dirname(first), ".probe")
            const writable = yield* Effect.try({
              try: () => writeFileSync(probe, "", { flag: "wx" }),
              catch: String
            }).pipe(
              Effect.as(true),
              Effect.orElseSucceed(() => false)
            )
            if (writable) {
              rmSync(probe)
              rmSync(`${first}.tmp`, { force: true })
              mkdirSync(`${first}.tmp`)
              figures.readOnlyFault = "chmod 0o500 + directory at the temp path (root ignores modes)"
            } else {
              figures.readOnlyFault = "chmod 0o500"
            }
          }

          const run = yield* killWriter(dir, delayMs)

          if (round === readOnlyRound) {
            chmodSync(dirname(first), 0o700)
            rmSync(`${first}.tmp`, { recursive: true, force: true })
            assert.deepStrictEqual(readFileSync(first), untouched, `${label}: the unwritable copy changed`)
            assert.match(run.stderr, /reached 1 of 2 copies/, `${label}: acks did not come from one copy`)
          }

          figures.rounds++
          if (run.signal === "SIGKILL") figures.kills++
          else violations.push(`${label}: writer ended by code ${run.code}, not SIGKILL: ${run.stderr}`)
          assert.deepStrictEqual(run.unexpected, [], `${label}: unexpected writer stdout`)
          assert.strictEqual(run.acked[0], loadedCounter + 1, `${label}: the writer did not resume after the last load`)
          figures.acked += run.acked.length
          lastAcked = run.acked[run.acked.length - 1] ?? lastAcked
          // Each round's first ack renamed every writable temp file away, so one left now is this round's.
          if (paths.some((path) => existsSync(`${path}.tmp`))) figures.tornTempFiles++
          // Killed between one copy's rename and the next: the copies hold different generations.
          if (round !== readOnlyRound && new Set(paths.map(generationOf)).size > 1) figures.splitCopies++

          const { loaded } = yield* loadLedger(paths)
          check(label, loaded)
        }

        // The common figures: every kill plus the bit flip and the unwritable disk; acknowledged writes as requests.
        console.log(JSON.stringify({ ...figures, faults: figures.kills + 2, requests: figures.acked, hung: 0 }))
        assert.deepStrictEqual(violations, [])
        assert.strictEqual(figures.lost, 0)
        assert.strictEqual(figures.corrupt, 0)
        assert.strictEqual(figures.loadedAsNew, 0)
        assert.strictEqual(figures.kills, total)
      }),
    { timeout }
  )
})
