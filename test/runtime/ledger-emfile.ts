/**
 * A child process for `Ledger.test.ts`, run under a low open-file limit: it uses up its descriptors,
 * saves, and frees them once the ledger reports it is retrying — the save must then succeed; a second
 * save whose descriptors never come back must fail after its retry window. Prints the outcomes as JSON.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect, Exit, Fiber, Logger, Result, Schema } from "effect"
import * as Ledger from "../../src/runtime/Ledger.ts"

const State = Schema.Struct({ n: Schema.Int })

/** Opens descriptors until the process has none left; returns them. */
const exhaust = (): Array<number> => {
  const held: Array<number> = []
  while (true) {
    try {
      held.push(openSync("/dev/null", "r"))
    } catch {
      return held
    }
  }
}

const main = Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "tq-emfile-"))
  const paths = [join(dir, "a.json"), join(dir, "b.json")]
  const retrying = Deferred.makeUnsafe<string>()
  const logger = Logger.make<unknown, void>(({ message }) => {
    const line = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    if (line.includes("retrying")) Deferred.doneUnsafe(retrying, Exit.succeed(line))
  })
  const ledger = Ledger.file({ paths, schema: State, transientRetry: "10 seconds" })
  yield* ledger.save({ n: 1 })
  const held = exhaust()
  const saving = yield* Effect.forkChild(ledger.save({ n: 2 }).pipe(Effect.provide(Logger.layer([logger]))))
  const warning = yield* Deferred.await(retrying)
  for (const fd of held) closeSync(fd)
  const recovered = yield* Fiber.join(saving)

  const impatient = Ledger.file({ paths, schema: State, transientRetry: "200 millis" })
  const stillHeld = exhaust()
  const gaveUp = yield* Effect.result(impatient.save({ n: 3 }).pipe(Effect.provide(Logger.layer([]))))
  for (const fd of stillHeld) closeSync(fd)
  rmSync(dir, { recursive: true, force: true })
  process.stdout.write(
    `${JSON.stringify({
      warning,
      recovered: { generation: recovered.generation, written: recovered.written },
      gaveUp: Result.isFailure(gaveUp) ? gaveUp.failure.failures : "saved"
    })}\n`
  )
})

Effect.runPromise(main).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${String(e)}\n`)
    process.exit(1)
  }
)
