/**
 * The ledger: a node's persistent state, written durably and atomically to every configured path.
 *
 * File format (one JSON document per copy, UTF-8):
 *
 *   { "format": "effect-trust-quorum/ledger/v3",
 *     "generation": <integer, +1 per save>,
 *     "node": <the owning node's id, or null>, "rack": <the owning rack's id, or null>,
 *     "checksum": "<hex SHA3-256 of `<format>\n<generation>\n<JSON [node, rack]>\n<JSON text of state>`>",
 *     "state": <the state, encoded with its Schema's JSON codec; bytes as base64> }
 *
 * The checksum covers the generation and the owner too: a bit flip that raised a stale copy's
 * generation would otherwise make it win over the newer copy and lose acknowledged writes.
 *
 * A ledger with an `owner` is bound to its node: every copy records the node id and the rack id of its
 * state. A load that finds a copy of another node, or copies of two racks, fails with `LedgerCorrupt`
 * naming whose they are, and nothing is written — another node's disk swapped in is neither used nor
 * allowed to overwrite this node's own copy. Before the first load every path's directory must exist
 * and be writable, and there must be at least one path (`LedgerUnavailable` otherwise), so a wrong path
 * is found at start, not at the first write.
 *
 * A save writes `<path>.tmp` (always a new file, mode 0600, whatever stale temp file was there),
 * fsyncs it, renames it over `<path>` and fsyncs the directory, for each path in turn. It succeeds if
 * at least one copy was written (fewer than configured is reported and logged). When no copy was
 * written and every failure is transient (out of descriptors, disk full, I/O error), the save is retried
 * with exponential backoff for `transientRetry` (30 s) before it fails; meanwhile the caller waits, so
 * nothing is acknowledged. With none written it fails, and the node must stop rather than acknowledge
 * state that is not durable. A load reads every copy and returns the valid one with the highest
 * generation; if copies exist but none is valid it fails with `LedgerCorrupt`, so a node never boots as
 * new over a damaged ledger. Key shares are stored in the clear, as in the original: protect the disks.
 */
import { createHash } from "node:crypto"
import { constants } from "node:fs"
import * as fs from "node:fs/promises"
import { basename, dirname } from "node:path"
import { Clock, Duration, Effect, Option, Result, Schema, Semaphore } from "effect"

const format = "effect-trust-quorum/ledger/v3"

/** A copy that could not be read or written, and why. */
export const CopyFailure = Schema.Struct({ path: Schema.String, reason: Schema.String })
export type CopyFailure = typeof CopyFailure.Type

/** A valid copy and whose it is. */
export const CopyOwner = Schema.Struct({
  path: Schema.String,
  node: Schema.NullOr(Schema.String),
  rack: Schema.NullOr(Schema.String)
})
export type CopyOwner = typeof CopyOwner.Type

/**
 * Copies exist but none is valid, or some belong to another node or rack: the node must not start as if
 * it were new, nor with someone else's state. `foreign` lists the copies that are not this node's (or,
 * when the copies disagree on the rack, every valid copy and its rack).
 */
export class LedgerCorrupt extends Schema.TaggedError<LedgerCorrupt>()("LedgerCorrupt", {
  copies: Schema.Array(CopyFailure),
  foreign: Schema.optionalKey(Schema.Array(CopyOwner)),
  /** The node the ledger belongs to, when it is bound to one. */
  owner: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    if (this.foreign !== undefined && this.foreign.length > 0) {
      const list = this.foreign.map((c) => `${c.path} (node ${c.node ?? "none"}, rack ${c.rack ?? "none"})`).join("; ")
      return `ledger copies that are not this node's (${this.owner ?? "?"}) or disagree on the rack: ${list}; they were left untouched — remove the wrong copies or put this node's own back; the node does not start with another node's or rack's ledger`
    }
    const list = this.copies.map((c) => `${c.path} (${c.reason})`).join("; ")
    return `no valid ledger copy: ${list}; restore a copy from backup or factory-reset the node — it will not start as new`
  }
}

/** The configured paths cannot hold a ledger: none given, or a directory missing or not writable. */
export class LedgerUnavailable extends Schema.TaggedError<LedgerUnavailable>()("LedgerUnavailable", {
  failures: Schema.Array(CopyFailure)
}) {
  override get message(): string {
    if (this.failures.length === 0) return "no ledger paths are configured; give at least one (two on separate disks)"
    const list = this.failures.map((c) => `${c.path} (${c.reason})`).join("; ")
    return `ledger paths cannot be written: ${list}; create the directories or fix the paths in the configuration`
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

/** Why a ledger could not be loaded. */
export type LoadError = LedgerCorrupt | LedgerUnavailable

/** Durable storage of one value. */
export interface Ledger<A> {
  readonly load: Effect.Effect<Option.Option<A>, LoadError>
  readonly save: (state: A) => Effect.Effect<LedgerWriteReport, LedgerWriteFailed>
  readonly describe: string
}

/** The checksum of one copy: binds the format, the generation, the owner and the state's JSON text together. */
const checksum = (generation: number, node: string | null, rack: string | null, stateJson: string) =>
  createHash("sha3-256")
    .update(`${format}\n${generation}\n${JSON.stringify([node, rack])}\n${stateJson}`)
    .digest("hex")

const Envelope = Schema.Struct({
  format: Schema.Literal(format),
  generation: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  node: Schema.NullOr(Schema.String),
  rack: Schema.NullOr(Schema.String),
  checksum: Schema.String,
  state: Schema.Unknown
})

/** Errors that may pass once the process or the disk recovers: out of descriptors, disk full, I/O error. */
const transientCodes = new Set(["EMFILE", "ENFILE", "ENOSPC", "EDQUOT", "EIO", "EAGAIN", "ENOMEM"])

/** The first retry of a transiently failed save waits this long; each next one twice as long, up to 1 s. */
const firstRetryMs = 10

const describeError = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e ? String(e.code) : e instanceof Error ? e.message : String(e)

const writeDurably = async (path: string, bytes: Uint8Array): Promise<void> => {
  const tmp = `${path}.tmp`
  // A stale temp file keeps its mode when reopened: remove it and create the file anew, exclusively.
  await fs.rm(tmp, { force: true })
  const file = await fs.open(tmp, "wx", 0o600)
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

/** The node a ledger belongs to, and how to read the rack id of its state. */
export interface Owner<A> {
  readonly node: string
  readonly rackOf: (state: A) => string | undefined
}

/** Why `dir` cannot hold ledger copies, if it cannot: not a directory, or not writable (rejects if absent). */
const directoryProblem = async (dir: string): Promise<string | undefined> => {
  if (!(await fs.stat(dir)).isDirectory()) return `${dir} is not a directory`
  await fs.access(dir, constants.W_OK)
  return undefined
}

/** Checks that there are paths and that each one's directory exists and is writable. */
const checkPaths = (paths: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (paths.length === 0) return yield* new LedgerUnavailable({ failures: [] })
    const failures: Array<CopyFailure> = []
    for (const path of paths) {
      const dir = dirname(path)
      const reason = yield* Effect.tryPromise({
        try: () => directoryProblem(dir),
        catch: (e) => `directory ${dir}: ${describeError(e)}`
      }).pipe(Effect.catch((reason) => Effect.succeed(reason)))
      if (reason !== undefined) failures.push({ path, reason })
    }
    if (failures.length > 0) return yield* new LedgerUnavailable({ failures })
  })

/** A ledger kept in files at `paths` (use two or more on separate disks), bound to `owner` when given. */
export const file = <
  S extends Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }
>(options: {
  readonly paths: ReadonlyArray<string>
  readonly schema: S
  readonly owner?: Owner<S["Type"]>
  /** How long a save that failed only transiently is retried before it fails (default 30 s). */
  readonly transientRetry?: Duration.Input
}): Ledger<S["Type"]> => {
  const codec = Schema.toCodecJson(options.schema)
  const encode = Schema.encodeUnknownSync(codec)
  const decode = Schema.decodeUnknownResult(codec)
  const decodeEnvelope = Schema.decodeUnknownResult(Schema.fromJsonString(Envelope))
  const lock = Semaphore.makeUnsafe(1)
  const owner = options.owner
  const retryMs = Duration.toMillis(Duration.fromInputUnsafe(options.transientRetry ?? Duration.seconds(30)))
  let generation: number | undefined

  interface Copy {
    readonly generation: number
    readonly node: string | null
    readonly rack: string | null
    readonly state: S["Type"]
  }

  const readCopy = (path: string) =>
    Effect.tryPromise({ try: () => fs.readFile(path, "utf8"), catch: describeError }).pipe(
      Effect.map((text): Result.Result<Copy, string> => {
        const envelope = decodeEnvelope(text)
        if (Result.isFailure(envelope)) return Result.fail("not a ledger file")
        const { generation, node, rack, state } = envelope.success
        if (checksum(generation, node, rack, JSON.stringify(state)) !== envelope.success.checksum) {
          return Result.fail("checksum mismatch")
        }
        const decoded = decode(state)
        if (Result.isFailure(decoded)) return Result.fail("state does not decode")
        return Result.succeed({ generation, node, rack, state: decoded.success })
      }),
      Effect.catch((reason) => Effect.succeed(Result.fail(reason)))
    )

  /** The copies that are not the owner's: another node's, or — if the copies name two racks — all of them. */
  const foreignCopies = (copies: ReadonlyArray<CopyOwner>): ReadonlyArray<CopyOwner> => {
    if (owner === undefined) return []
    const otherNode = copies.filter((c) => c.node !== owner.node)
    if (otherNode.length > 0) return otherNode
    const racks = new Set(copies.flatMap((c) => (c.rack === null ? [] : [c.rack])))
    return racks.size > 1 ? copies : []
  }

  const load = Effect.gen(function* () {
    yield* checkPaths(options.paths)
    let best: Copy | undefined
    const invalid: Array<CopyFailure> = []
    const valid: Array<CopyOwner> = []
    let existing = 0
    for (const path of options.paths) {
      const copy = yield* readCopy(path)
      // Absent copies are skipped; any other read error fails closed, like an invalid copy.
      if (Result.isFailure(copy) && (copy.failure === "ENOENT" || copy.failure === "ENOTDIR")) continue
      existing++
      if (Result.isFailure(copy)) {
        invalid.push({ path, reason: copy.failure })
        yield* Effect.logWarning("ledger copy is invalid", path, copy.failure)
        continue
      }
      valid.push({ path, node: copy.success.node, rack: copy.success.rack })
      if (best === undefined || copy.success.generation > best.generation) best = copy.success
    }
    const foreign = foreignCopies(valid)
    if (foreign.length > 0 && owner !== undefined) {
      return yield* new LedgerCorrupt({ copies: invalid, foreign, owner: owner.node })
    }
    if (best === undefined && existing > 0) return yield* new LedgerCorrupt({ copies: invalid })
    generation = Math.max(generation ?? 0, best?.generation ?? 0)
    return Option.fromNullishOr(best?.state)
  })

  /** Writes every copy once; the failures, by path. */
  const writeAll = (bytes: Uint8Array) =>
    Effect.gen(function* () {
      const failures: Array<CopyFailure> = []
      for (const path of options.paths) {
        const written = yield* Effect.result(
          Effect.tryPromise({ try: () => writeDurably(path, bytes), catch: describeError })
        )
        if (Result.isFailure(written)) failures.push({ path, reason: written.failure })
      }
      return failures
    })

  const save = (state: S["Type"]) =>
    lock.withPermits(1)(
      Effect.gen(function* () {
        if (generation === undefined) yield* Effect.ignore(load)
        const next = (generation ?? 0) + 1
        const encoded = encode(state)
        const node = owner?.node ?? null
        const rack = owner?.rackOf(state) ?? null
        const text = JSON.stringify({
          format,
          generation: next,
          node,
          rack,
          checksum: checksum(next, node, rack, JSON.stringify(encoded)),
          state: encoded
        })
        const bytes = new TextEncoder().encode(text)
        const giveUpAt = (yield* Clock.currentTimeMillis) + retryMs
        let failures = yield* writeAll(bytes)
        for (let delay = firstRetryMs; ; delay = Math.min(delay * 2, 1000)) {
          const transient =
            failures.length === options.paths.length && failures.every((f) => transientCodes.has(f.reason))
          if (!transient || (yield* Clock.currentTimeMillis) >= giveUpAt) break
          yield* Effect.logWarning(
            `ledger generation ${next} reached no copy; retrying in ${delay} ms`,
            failures.map((f) => `${f.path}: ${f.reason}`).join("; ")
          )
          yield* Effect.sleep(Duration.millis(delay))
          failures = yield* writeAll(bytes)
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
