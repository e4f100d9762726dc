/**
 * A ledger writer for the storage-fault chaos test (`StorageFaults.test.ts`), run as a child process
 * so the test can SIGKILL it at any point inside a save.
 *
 * Usage: `node --experimental-strip-types ledger-writer.ts <dir> <count> <killAfterMs>`. It opens the file
 * ledger on `<dir>/disk<i>/ledger.json` for i < count, loads it, and then saves counter + 1 forever,
 * printing `acked <counter>` on stdout after each save returns — and only then, so every printed counter
 * is an acknowledged write. `killAfterMs` after the first acknowledgement it sends itself SIGKILL, which
 * lands wherever its saves are: the file system calls run off the main thread while the timer fires.
 * Logs go to stderr so stdout holds acknowledgements alone.
 */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Duration, Effect, Logger, Option, Schema } from "effect"
import * as Ledger from "../../src/runtime/Ledger.ts"

/** The state the writer saves: a counter, and a payload large enough that a save takes a moment. */
export const WriterState = Schema.Struct({ counter: Schema.Int, payload: Schema.String })

/** The ledger paths under `dir`: one directory per copy, so one copy's directory can fail alone. */
export const ledgerPaths = (dir: string, count: number): ReadonlyArray<string> =>
  Array.from({ length: count }, (_, i) => join(dir, `disk${i}`, "ledger.json"))

// 16 KiB per copy: a few page writes and an fsync, so kills land inside writes as well as between them.
const payload = (counter: number) => `${counter}:`.padEnd(16 * 1024, "abcdefghijklmnopqrstuvwxyz")

const main = Effect.gen(function* () {
  const [dir, countArg, killArg] = process.argv.slice(2)
  const count = Number(countArg)
  const killAfterMs = Number(killArg)
  if (dir === undefined || !Number.isInteger(count) || count < 1 || !Number.isInteger(killAfterMs)) {
    return yield* Effect.die(new Error("usage: ledger-writer.ts <dir> <count of paths> <kill after ms>"))
  }
  const paths = ledgerPaths(dir, count)
  yield* Effect.sync(() => {
    for (const path of paths) mkdirSync(join(path, ".."), { recursive: true })
  })
  const ledger = Ledger.file({ paths, schema: WriterState })
  const loaded = yield* ledger.load
  let counter = Option.match(loaded, { onNone: () => 0, onSome: (state) => state.counter })
  const first = counter + 1
  while (true) {
    counter++
    yield* ledger.save({ counter, payload: payload(counter) })
    // stdout is a pipe, written synchronously on Linux: the line is out before the next save begins.
    yield* Console.log(`acked ${counter}`)
    if (counter === first) {
      yield* Effect.forkChild(
        Effect.sleep(Duration.millis(killAfterMs)).pipe(
          Effect.andThen(Effect.sync(() => process.kill(process.pid, "SIGKILL")))
        ),
        { startImmediately: true }
      )
    }
  }
}).pipe(Effect.provideService(Logger.LogToStderr, true))

if (import.meta.main) NodeRuntime.runMain(main)
