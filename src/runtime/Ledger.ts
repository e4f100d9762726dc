/**
 * The ledger: a node's persistent state, written durably and atomically to every configured path.
 *
 * File format (one JSON document per copy, UTF-8):
 *
 *   { "format": "effect-trust-quorum/ledger/v2",
 *     "generation": <integer, +1 per save>,
 *     "checksum": "<hex SHA3-256 of `<format>\n<generation>\n<JSON text of state>`>",
 *     "state": <the state, encoded with its Schema's JSON codec; bytes as base64> }
 *
 * The checksum covers the generation too (v1 did not): a bit flip that raised a stale copy's
 * generation would otherwise make it win over the newer copy and lose acknowledged writes.
 *
 * A save writes `<path>.tmp`, fsyncs it, renames it over `<path>` and fsyncs the directory, for each
 * path in turn. It succeeds if at least one copy was written (fewer than configured is reported and
 * logged); with none it fails, and the node must stop rather than acknowledge state that is not
 * durable. A load reads every copy and returns the valid one with the highest generation; if copies
 * exist but none is valid it fails with `LedgerCorrupt`, so a node never boots as new over a damaged
 * ledger. Key shares are stored in the clear, as in the original: protect the files (mode 0600) and
 * the disks they live on.
 */
import { createHash } from "node:crypto"
import { constants } from "node:fs"
import * as fs from "node:fs/promises"
import { basename, dirname } from "node:path"
import { Effect, Option, Result, Schema, Semaphore } from "effect"

const format = "effect-trust-quorum/ledger/v2"

/** A copy that could not be read or written, and why. */
export const CopyFailure = Schema.Struct({ path: Schema.String, reason: Schema.String })
export type CopyFailure = typeof CopyFailure.Type

/** Copies exist but none is valid: the node must not start as if it were new. */
export class LedgerCorrupt extends Schema.TaggedError<LedgerCorrupt>()("LedgerCorrupt", {
  copies: Schema.Array(CopyFailure)
}) {
  override get message(): string {
    const list = this.copies.map((c) => `${c.path} (${c.reason})`).join("; ")
    return `no valid ledger copy: ${list}; restore a copy from backup or factory-reset the node — it will not start as new`
  }
}

/** No copy could be written: the state is not durable. */
export class LedgerWriteFailed extends Schema.TaggedError<LedgerWriteFailed>()("LedgerWriteFailed", {
  generation: Schema.Int,
  failures: Schema.Array(CopyFailure)
}) {
  override get message(): string {
    const list = this.failures.map((c) => `${c.path} (${c.reason})`).join("; ")
    return `ledger generation ${this.generation} reached no copy: ${list}; check the disks`
  }
}

/** The outcome of a save. */
export interface LedgerWriteReport {
  readonly generation: number
  readonly written: number
  readonly configured: number
  readonly failures: ReadonlyArray<CopyFailure>
}

/** Durable storage of one value. */
export interface Ledger<A> {
  readonly load: Effect.Effect<Option.Option<A>, LedgerCorrupt>
  readonly save: (state: A) => Effect.Effect<LedgerWriteReport, LedgerWriteFailed>
  readonly describe: string
}

/** The checksum of one copy: binds the format, the generation and the state's JSON text together. */
const checksum = (generation: number, stateJson: string) =>
  createHash("sha3-256").update(`${format}\n${generation}\n${stateJson}`).digest("hex")

const Envelope = Schema.Struct({
  format: Schema.Literal(format),
  generation: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  checksum: Schema.String,
  state: Schema.Unknown
})

const describeError = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e ? String(e.code) : e instanceof Error ? e.message : String(e)

const writeDurably = async (path: string, bytes: Uint8Array): Promise<void> => {
  const tmp = `${path}.tmp`
  const file = await fs.open(tmp, "w", 0o600)
  try {
    await file.writeFile(bytes)
    await file.sync()
  } finally {
    await file.close()
  }
  await fs.rename(tmp, path)
  const dir = await fs.open(dirname(path), constants.O_RDONLY)
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/** A ledger kept in files at `paths` (use two or more on separate disks). */
export const file = <
  S extends Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }
>(options: {
  readonly paths: ReadonlyArray<string>
  readonly schema: S
}): Ledger<S["Type"]> => {
  const codec = Schema.toCodecJson(options.schema)
  const encode = Schema.encodeUnknownSync(codec)
  const decode = Schema.decodeUnknownResult(codec)
  const decodeEnvelope = Schema.decodeUnknownResult(Schema.fromJsonString(Envelope))
  const lock = Semaphore.makeUnsafe(1)
  let generation: number | undefined

  const readCopy = (path: string) =>
    Effect.tryPromise({ try: () => fs.readFile(path, "utf8"), catch: describeError }).pipe(
      Effect.map((text): Result.Result<{ generation: number; state: S["Type"] }, string> => {
        const envelope = decodeEnvelope(text)
        if (Result.isFailure(envelope)) return Result.fail("not a ledger file")
        const { generation, state } = envelope.success
        if (checksum(generation, JSON.stringify(state)) !== envelope.success.checksum) {
          return Result.fail("checksum mismatch")
        }
        const decoded = decode(state)
        if (Result.isFailure(decoded)) return Result.fail("state does not decode")
        return Result.succeed({ generation, state: decoded.success })
      }),
      Effect.catch((reason) => Effect.succeed(Result.fail(reason)))
    )

  const load = Effect.gen(function* () {
    let best: { generation: number; state: S["Type"] } | undefined
    const invalid: Array<CopyFailure> = []
    let existing = 0
    for (const path of options.paths) {
      const copy = yield* readCopy(path)
      // Absent copies are skipped; any other read error fails closed, like an invalid copy.
      if (Result.isFailure(copy) && (copy.failure === "ENOENT" || copy.failure === "ENOTDIR")) continue
      existing++
      if (Result.isFailure(copy)) {
        invalid.push({ path, reason: copy.failure })
        yield* Effect.logWarning("ledger copy is invalid", path, copy.failure)
      } else if (best === undefined || copy.success.generation > best.generation) {
        best = copy.success
      }
    }
    if (best === undefined && existing > 0) return yield* new LedgerCorrupt({ copies: invalid })
    generation = Math.max(generation ?? 0, best?.generation ?? 0)
    return Option.fromNullishOr(best?.state)
  })

  const save = (state: S["Type"]) =>
    lock.withPermits(1)(
      Effect.gen(function* () {
        if (generation === undefined) yield* Effect.ignore(load)
        const next = (generation ?? 0) + 1
        const encoded = encode(state)
        const text = JSON.stringify({
          format,
          generation: next,
          checksum: checksum(next, JSON.stringify(encoded)),
          state: encoded
        })
        const bytes = new TextEncoder().encode(text)
        const failures: Array<CopyFailure> = []
        for (const path of options.paths) {
          const written = yield* Effect.result(
            Effect.tryPromise({ try: () => writeDurably(path, bytes), catch: describeError })
          )
          if (Result.isFailure(written)) failures.push({ path, reason: written.failure })
        }
        // The encoded bytes hold key shares.
        bytes.fill(0)
        const written = options.paths.length - failures.length
        if (written === 0) return yield* new LedgerWriteFailed({ generation: next, failures })
        generation = next
        if (failures.length > 0) {
          yield* Effect.logWarning(
            `ledger generation ${next} reached ${written} of ${options.paths.length} copies`,
            failures.map((f) => `${f.path}: ${f.reason}`).join("; ")
          )
        }
        return { generation: next, written, configured: options.paths.length, failures }
      })
    )

  return { load, save, describe: `file: ${options.paths.map((p) => basename(p)).join(", ")}` }
}

/** An in-memory ledger for tests; `failNextWrites(n)` makes the next n saves fail. */
export interface MemoryLedger<A> extends Ledger<A> {
  readonly failNextWrites: (n: number) => void
  readonly current: () => Option.Option<A>
}

export const memory = <A>(initial?: A): MemoryLedger<A> => {
  let value: Option.Option<A> = Option.fromNullishOr(initial)
  let generation = 0
  let failures = 0
  return {
    describe: "memory",
    load: Effect.sync(() => value),
    save: (state) =>
      Effect.suspend(() => {
        if (failures > 0) {
          failures--
          return Effect.fail(
            new LedgerWriteFailed({
              generation: generation + 1,
              failures: [{ path: "memory", reason: "injected failure" }]
            })
          )
        }
        value = Option.some(state)
        generation++
        return Effect.succeed({ generation, written: 1, configured: 1, failures: [] })
      }),
    failNextWrites: (n) => {
      failures = n
    },
    current: () => value
  }
}
