import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import * as Ledger from "../../src/runtime/Ledger.ts"
import { runScript } from "../examples/script.ts"

const State = Schema.Struct({ n: Schema.Int, secret: Schema.Uint8Array })
const state = (n: number) => ({ n, secret: new Uint8Array(32).fill(n) })

const withDir = <A, E>(f: (dir: string) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "tq-ledger-"))),
    f,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const paths = (dir: string, n = 3) => Array.from({ length: n }, (_, i) => join(dir, `copy${i}.json`))

/** Two copies saved at generations 1 then 2; `stale` is copy a's text at generation 1. */
const twoGenerations = (dir: string) =>
  Effect.gen(function* () {
    const [a, b] = paths(dir, 2)
    if (!a || !b) throw new Error("paths")
    const ledger = Ledger.file({ paths: [a, b], schema: State })
    yield* ledger.save(state(1))
    const stale = readFileSync(a, "utf8")
    const second = yield* ledger.save(state(2))
    return { a, b, stale, second }
  })

describe("Ledger.file", () => {
  it.live("save then load round-trips through a fresh ledger, bytes included", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const report = yield* Ledger.file({ paths: paths(dir), schema: State }).save(state(7))
        assert.deepStrictEqual(report, { generation: 1, written: 3, configured: 3, failures: [] })
        const loaded = yield* Ledger.file({ paths: paths(dir), schema: State }).load
        assert.isTrue(Option.isSome(loaded))
        if (Option.isSome(loaded)) {
          assert.strictEqual(loaded.value.n, 7)
          assert.deepStrictEqual(loaded.value.secret, new Uint8Array(32).fill(7))
        }
      })
    )
  )

  it.live("no file at all loads as none (a new node)", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        assert.isTrue(Option.isNone(yield* Ledger.file({ paths: paths(dir), schema: State }).load))
      })
    )
  )

  it.live("the generation grows per save and a stale copy never wins", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const { a, b, stale, second } = yield* twoGenerations(dir)
        assert.strictEqual(second.generation, 2)
        writeFileSync(a, stale)
        const loaded = yield* Ledger.file({ paths: [a, b], schema: State }).load
        assert.isTrue(Option.isSome(loaded) && loaded.value.n === 2)
        // A new ledger over the same files continues after the highest generation it saw.
        const again = Ledger.file({ paths: [a, b], schema: State })
        yield* again.load
        assert.strictEqual((yield* again.save(state(3))).generation, 3)
      })
    )
  )

  it.live("a bit-flipped copy is skipped when another is valid; all invalid ⇒ LedgerCorrupt naming each", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const [a, b] = paths(dir, 2)
        if (!a || !b) throw new Error("paths")
        yield* Ledger.file({ paths: [a, b], schema: State }).save(state(5))
        const text = readFileSync(a, "utf8")
        writeFileSync(a, text.replace('"n":5', '"n":6'))
        const loaded = yield* Ledger.file({ paths: [a, b], schema: State }).load
        assert.isTrue(Option.isSome(loaded) && loaded.value.n === 5)
        writeFileSync(b, "{ not json")
        const error = yield* Effect.flip(Ledger.file({ paths: [a, b], schema: State }).load)
        if (error._tag !== "LedgerCorrupt") return assert.fail(error.message)
        assert.deepStrictEqual(error.copies, [
          { path: a, reason: "checksum mismatch" },
          { path: b, reason: "not a ledger file" }
        ])
        assert.match(error.message, /will not start as new/)
      })
    )
  )

  it.live("a stale copy whose generation was bit-flipped upward fails its checksum and never wins", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const { a, b, stale } = yield* twoGenerations(dir)
        // Copy a goes back to generation 1's state, with its generation raised above the real newest (2).
        writeFileSync(a, stale.replace('"generation":1', '"generation":9'))
        const loaded = yield* Ledger.file({ paths: [a, b], schema: State }).load
        assert.isTrue(Option.isSome(loaded) && loaded.value.n === 2)
      })
    )
  )

  it.live("a wrong format tag makes a copy invalid", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const [a] = paths(dir, 1)
        if (!a) throw new Error("paths")
        yield* Ledger.file({ paths: [a], schema: State }).save(state(1))
        writeFileSync(a, readFileSync(a, "utf8").replace("ledger/v3", "ledger/v9"))
        const error = yield* Effect.flip(Ledger.file({ paths: [a], schema: State }).load)
        if (error._tag !== "LedgerCorrupt") return assert.fail(error.message)
        assert.deepStrictEqual(error.copies, [{ path: a, reason: "not a ledger file" }])
      })
    )
  )

  it.live("one unwritable path is reported but the save succeeds; none writable ⇒ LedgerWriteFailed", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const blocker = join(dir, "a-file")
        writeFileSync(blocker, "x")
        const bad = join(blocker, "copy.json")
        const [a, b] = paths(dir, 2)
        if (!a || !b) throw new Error("paths")
        const report = yield* Ledger.file({ paths: [a, bad, b], schema: State }).save(state(1))
        assert.strictEqual(report.written, 2)
        assert.strictEqual(report.configured, 3)
        assert.deepStrictEqual(report.failures, [{ path: bad, reason: "ENOTDIR" }])
        const error = yield* Effect.flip(Ledger.file({ paths: [bad], schema: State }).save(state(1)))
        assert.strictEqual(error._tag, "LedgerWriteFailed")
        assert.deepStrictEqual(error.failures, [{ path: bad, reason: "ENOTDIR" }])
      })
    )
  )

  it.live("a torn temp file left by a crash does not affect load, and the next save replaces it", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const [a] = paths(dir, 1)
        if (!a) throw new Error("paths")
        const ledger = Ledger.file({ paths: [a], schema: State })
        yield* ledger.save(state(1))
        writeFileSync(`${a}.tmp`, '{"format":"effect-trust-quorum/ledger/v3","generation":2,"chec')
        const loaded = yield* Ledger.file({ paths: [a], schema: State }).load
        assert.isTrue(Option.isSome(loaded) && loaded.value.n === 1)
        yield* ledger.save(state(2))
        assert.deepStrictEqual(readdirSync(dir).sort(), ["copy0.json"])
        const after = yield* Ledger.file({ paths: [a], schema: State }).load
        assert.isTrue(Option.isSome(after) && after.value.n === 2)
      })
    )
  )
})

describe("Ledger.file bound to its node", () => {
  const Racked = Schema.Struct({ rack: Schema.String, n: Schema.Int })
  const bound = (node: string, files: ReadonlyArray<string>) =>
    Ledger.file({ paths: files, schema: Racked, owner: { node, rackOf: (s) => s.rack } })
  const rackA = "0123e456-789a-4bcd-8f01-23456789abcd"
  const rackB = "fedcba98-7654-4321-8fed-cba987654321"

  it.live(
    "a copy of another node is refused, named, and neither used nor overwritten, even at a higher generation",
    () =>
      withDir((dir) =>
        Effect.gen(function* () {
          const [a, b] = paths(dir, 2)
          if (!a || !b) throw new Error("paths")
          yield* bound("913:1", [a, b]).save({ rack: rackA, n: 1 })
          // Node 913:2's ledger, two generations ahead, swapped in at b.
          const other = bound("913:2", [b])
          yield* other.save({ rack: rackA, n: 7 })
          yield* other.save({ rack: rackA, n: 8 })
          const before = [readFileSync(a, "utf8"), readFileSync(b, "utf8")]
          const error = yield* Effect.flip(bound("913:1", [a, b]).load)
          if (error._tag !== "LedgerCorrupt") return assert.fail(error.message)
          assert.deepStrictEqual(error.foreign, [{ path: b, node: "913:2", rack: rackA }])
          assert.include(error.message, `${b} (node 913:2, rack ${rackA})`)
          assert.include(error.message, "not this node's (913:1)")
          assert.deepStrictEqual([readFileSync(a, "utf8"), readFileSync(b, "utf8")], before)
        })
      )
  )

  it.live("copies of one node that name two racks are refused, each named with its rack", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const [a, b] = paths(dir, 2)
        if (!a || !b) throw new Error("paths")
        yield* bound("913:1", [a]).save({ rack: rackA, n: 1 })
        yield* bound("913:1", [b]).save({ rack: rackB, n: 1 })
        const error = yield* Effect.flip(bound("913:1", [a, b]).load)
        if (error._tag !== "LedgerCorrupt") return assert.fail(error.message)
        assert.deepStrictEqual(error.foreign, [
          { path: a, node: "913:1", rack: rackA },
          { path: b, node: "913:1", rack: rackB }
        ])
      })
    )
  )

  it.live("copies are created 0600 even over a stale 0644 temp file", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const [a] = paths(dir, 1)
        if (!a) throw new Error("paths")
        writeFileSync(`${a}.tmp`, "stale", { mode: 0o644 })
        yield* bound("913:1", [a]).save({ rack: rackA, n: 1 })
        assert.strictEqual(statSync(a).mode & 0o777, 0o600)
        assert.deepStrictEqual(readdirSync(dir), ["copy0.json"])
      })
    )
  )

  it.live("no paths, or a path whose directory is missing, fail the load with LedgerUnavailable", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const none = yield* Effect.flip(bound("913:1", []).load)
        assert.strictEqual(none._tag, "LedgerUnavailable")
        assert.match(none.message, /^no ledger paths are configured/)
        const missing = join(dir, "absent", "copy.json")
        const error = yield* Effect.flip(bound("913:1", [join(dir, "copy0.json"), missing]).load)
        if (error._tag !== "LedgerUnavailable") return assert.fail(error.message)
        assert.deepStrictEqual(error.failures, [{ path: missing, reason: `directory ${join(dir, "absent")}: ENOENT` }])
        assert.match(error.message, /create the directories or fix the paths/)
      })
    )
  )
})

describe("Ledger.file under transient write failures", () => {
  it.live(
    "out of descriptors (ulimit -n 64): the save retries until they come back; without them it fails after its window",
    () =>
      Effect.gen(function* () {
        const { code, output } = yield* runScript(["test/runtime/ledger-emfile.ts"], { descriptorLimit: 64 }).pipe(
          Effect.timeout("20 seconds")
        )
        assert.strictEqual(code, 0, output)
        const report = JSON.parse(output.trim().split("\n").at(-1) ?? "{}")
        assert.match(report.warning, /^ledger generation 2 reached no copy; retrying in 10 ms .*a\.json: EMFILE/)
        assert.deepStrictEqual(report.recovered, { generation: 2, written: 2 })
        assert.deepStrictEqual(
          report.gaveUp.map((f: { reason: string }) => f.reason),
          ["EMFILE", "EMFILE"]
        )
      })
  )
})

describe("Ledger.memory", () => {
  it.effect("saves, loads and fails injected writes", () =>
    Effect.gen(function* () {
      const ledger = Ledger.memory<{ n: number }>()
      assert.isTrue(Option.isNone(yield* ledger.load))
      yield* ledger.save({ n: 1 })
      ledger.failNextWrites(1)
      const error = yield* Effect.flip(ledger.save({ n: 2 }))
      assert.strictEqual(error._tag, "LedgerWriteFailed")
      const loaded = yield* ledger.load
      assert.isTrue(Option.isSome(loaded) && loaded.value.n === 1)
      assert.strictEqual((yield* ledger.save({ n: 3 })).generation, 2)
    })
  )
})
