/**
 * A replica campaign: three control-plane replicas (`tq control-plane` processes) over one throwaway
 * PostgreSQL drive a rack of real node processes over mutual TLS. Membership requests (add, remove,
 * rotate) go to random replicas, several at once; a replica that has just accepted a request is often
 * killed with SIGKILL before it can drive it, and restarted a little later; PostgreSQL itself is crashed
 * (immediate shutdown) and restarted once mid-run.
 *
 * Afterwards the rack must converge (no unfinished epoch in the store, every member of the last committed
 * configuration unlocks the same secret), and:
 * - one configuration per epoch, in the store and on every node, and every configuration a node holds is
 *   one the store granted (same coordinator and members) — `LedgerAudit`;
 * - every accepted request is committed exactly once; a refused one has a typed reason; one whose replica
 *   died before answering is committed at most once;
 * - what the store says members acknowledged is on their ledgers.
 *
 * Figures: requests and their outcomes, kills, conflicts the replicas resolved (re-reads after another
 * replica moved first), take-over time (from killing the replica that accepted a request to another
 * replica's first progress on its epoch), lost, hung.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import {
  Context,
  Deferred,
  Duration,
  Effect,
  Fiber,
  Layer,
  Option,
  PubSub,
  Random,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { NodeApi } from "../api/NodeApi.ts"
import * as ControlPlaneStore from "../control/ControlPlaneStore.ts"
import * as MemberClient from "../control/MemberClient.ts"
import * as Reconfigurator from "../control/Reconfigurator.ts"
import * as Ledger from "../runtime/Ledger.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import { PersistentState } from "../types/PersistentState.ts"
import * as LedgerAudit from "./LedgerAudit.ts"
import { PgCluster } from "./PgCluster.ts"
import * as ProcessCampaign from "./ProcessCampaign.ts"
import * as ProcessRack from "./ProcessRack.ts"

export interface ReplicaCampaignOptions {
  readonly seed: number
  /** Membership requests in the campaign. */
  readonly requests: number
  /** Requests sent at once. */
  readonly concurrency: number
  /** Sleds: 4 form the first configuration, the rest can be added (default 5). */
  readonly pool: number
  readonly replicas: number
  readonly log: (line: string) => Effect.Effect<void>
}

export const defaultOptions: ReplicaCampaignOptions = {
  seed: 1,
  requests: 6,
  concurrency: 2,
  pool: 5,
  replicas: 3,
  log: () => Effect.void
}

export interface ReplicaFigures {
  readonly requests: number
  readonly accepted: number
  readonly refused: Readonly<Record<string, number>>
  /** Requests whose replica was killed before it answered, and how many of them were committed (at most once each). */
  readonly unanswered: number
  readonly unansweredCommitted: number
  readonly epochs: number
  readonly aborted: number
  readonly replicaKills: number
  readonly postgresRestarts: number
  readonly conflictsResolved: number
  /** Take-over times while PostgreSQL was up, and those that overlapped its outage (nothing moves until it is back). */
  readonly takeOverMillis: ReadonlyArray<number>
  readonly takeOverDuringOutageMillis: ReadonlyArray<number>
  readonly unlocks: number
  readonly invariantChecks: number
  readonly lost: number
  readonly hung: number
}

/** A campaign broke an invariant or left something waiting; `detail` says what. */
export class ReplicaCampaignFailed extends Schema.TaggedError<ReplicaCampaignFailed>()("ReplicaCampaignFailed", {
  seed: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `replica campaign with seed ${this.seed} failed: ${this.detail}`
  }
}

/** The figures line the suite prints. */
export const figuresLine = (f: ReplicaFigures, extra: Readonly<Record<string, unknown>> = {}) => {
  const sorted = [...f.takeOverMillis].sort((a, b) => a - b)
  const { takeOverMillis: _, ...rest } = f
  return JSON.stringify({
    suite: "control-plane-replicas",
    ...rest,
    takeOverMedianMillis: sorted[Math.floor(sorted.length / 2)] ?? null,
    takeOverMaxMillis: sorted.at(-1) ?? null,
    takeOverMillis: sorted,
    ...extra
  })
}

const rackId = "c4a05000-0000-4000-8000-00000000c0de"
const initialSize = 4
const sledIds = (n: number) =>
  Array.from({ length: n }, (_, i) => BaseboardId.make("913-0000019", `REPL${String(i + 1).padStart(4, "0")}`))

/** A progress event a replica printed, stamped when it arrived. */
interface Progress {
  readonly replica: number
  readonly epoch: number
  readonly tag: string
  readonly at: number
}

/** What a replica answered to a request. */
type Answer =
  | { readonly _tag: "Accepted"; readonly epoch: number }
  | { readonly _tag: "Refused"; readonly reason: string; readonly message: string }
  | { readonly _tag: "Unanswered" }

const ReplicaLine = Schema.fromJsonString(
  Schema.Union([
    Schema.Struct({ event: Schema.Literal("replica-ready") }),
    Schema.Struct({ event: Schema.Literal("accepted"), request: Schema.String, epoch: Schema.Int }),
    Schema.Struct({
      event: Schema.Literal("refused"),
      request: Schema.NullOr(Schema.String),
      reason: Schema.String,
      message: Schema.String
    }),
    Schema.Struct({ event: Schema.Literal("progress"), _tag: Schema.String, epoch: Schema.Int })
  ])
)
const decodeLine = Schema.decodeUnknownOption(ReplicaLine)

const tqScript = fileURLToPath(new URL("../cli/tq.ts", import.meta.url))

interface ReplicaProcess {
  readonly child: ChildProcess
  readonly ready: Deferred.Deferred<boolean>
  readonly exited: Deferred.Deferred<void>
  readonly pending: Map<string, Deferred.Deferred<Answer>>
  killed: boolean
}

/** Three replica processes that can be killed and restarted; their progress goes to one PubSub. */
const replicaSet = (args: {
  readonly dir: string
  readonly count: number
  readonly storeUrl: string
  /** The authority key file `ProcessRack` wrote with the rack's certificates. */
  readonly authorityKey: string
  readonly members: ReadonlyArray<string>
  readonly progress: PubSub.PubSub<Progress>
  readonly unexpected: (line: string) => void
}) =>
  Effect.gen(function* () {
    const running = new Map<number, ReplicaProcess>()
    const start = (index: number) =>
      Effect.gen(function* () {
        if (running.has(index)) return
        const log = createWriteStream(join(args.dir, `replica${index + 1}.log`), { flags: "a" })
        const child = spawn(
          process.execPath,
          [
            "--experimental-strip-types",
            "--no-warnings",
            tqScript,
            "control-plane",
            "--store",
            args.storeUrl,
            "--authority-key",
            args.authorityKey,
            "--rack-id",
            rackId,
            ...args.members.flatMap((m) => ["--member", m]),
            "--poll-ms",
            "25",
            "--coordinator-timeout-ms",
            "2000"
          ],
          { stdio: ["pipe", "pipe", "pipe"] }
        )
        const entry: ReplicaProcess = {
          child,
          ready: Deferred.makeUnsafe<boolean>(),
          exited: Deferred.makeUnsafe<void>(),
          pending: new Map(),
          killed: false
        }
        running.set(index, entry)
        let buffered = ""
        child.stdout?.on("data", (chunk: Buffer) => {
          log.write(chunk)
          buffered += chunk.toString("utf8")
          const lines = buffered.split("\n")
          buffered = lines.pop() ?? ""
          const at = performance.now()
          for (const line of lines) {
            const decoded = decodeLine(line)
            if (Option.isNone(decoded)) continue
            const event = decoded.value
            if (event.event === "replica-ready") Deferred.doneUnsafe(entry.ready, Effect.succeed(true))
            else if (event.event === "progress") {
              PubSub.publishUnsafe(args.progress, { replica: index, epoch: event.epoch, tag: event._tag, at })
            } else {
              const waiting = event.request === null ? undefined : entry.pending.get(event.request)
              if (waiting === undefined) continue
              Deferred.doneUnsafe(
                waiting,
                Effect.succeed<Answer>(
                  event.event === "accepted"
                    ? { _tag: "Accepted", epoch: event.epoch }
                    : { _tag: "Refused", reason: event.reason, message: event.message }
                )
              )
            }
          }
        })
        child.stderr?.on("data", (chunk: Buffer) => log.write(chunk))
        // A request written just as the replica is killed fails with EPIPE: it is unanswered, as its exit says.
        child.stdin?.on("error", () => undefined)
        child.on("exit", (code, signal) => {
          log.end()
          if (running.get(index) === entry) running.delete(index)
          if (!entry.killed) args.unexpected(`replica ${index + 1} exited on its own: ${code ?? signal}`)
          for (const waiting of entry.pending.values())
            Deferred.doneUnsafe(waiting, Effect.succeed({ _tag: "Unanswered" }))
          Deferred.doneUnsafe(entry.ready, Effect.succeed(false))
          Deferred.doneUnsafe(entry.exited, Effect.void)
        })
        // A replica starts in about a second; a 2-core machine shared with other work can take far longer.
        const ready = yield* Deferred.await(entry.ready).pipe(Effect.timeoutOption("60 seconds"))
        if (!Option.getOrElse(ready, () => false)) {
          return yield* Effect.fail(`replica ${index + 1} did not start within 60 s (see replica${index + 1}.log)`)
        }
      })

    const kill = (index: number) =>
      Effect.suspend(() => {
        const entry = running.get(index)
        if (entry === undefined) return Effect.void
        entry.killed = true
        entry.child.kill("SIGKILL")
        return Deferred.await(entry.exited)
      })

    /** Sends a request to replica `index` and waits for its answer (Unanswered if it dies first). */
    const send = (index: number, request: string, line: string) =>
      Effect.suspend(() => {
        const entry = running.get(index)
        if (entry === undefined) return Effect.succeed<Answer>({ _tag: "Unanswered" })
        const answer = Deferred.makeUnsafe<Answer>()
        entry.pending.set(request, answer)
        entry.child.stdin?.write(`${line}\n`)
        return Deferred.await(answer)
      })

    yield* Effect.addFinalizer(() =>
      Effect.forEach(Array.from(running.keys()), kill, { discard: true, concurrency: "unbounded" })
    )
    return {
      start,
      kill,
      send,
      isRunning: (index: number) => running.has(index)
    }
  })

/** Runs one campaign in a fresh directory (removed afterwards unless it failed). */
export const run = (partial: Partial<ReplicaCampaignOptions>) => {
  const options = { ...defaultOptions, ...partial }
  const failed = (detail: string) => new ReplicaCampaignFailed({ seed: options.seed, detail })
  const ids = sledIds(options.pool)

  const campaign = (dir: string): Effect.Effect<ReplicaFigures, ReplicaCampaignFailed, Scope.Scope | PgCluster> =>
    Effect.gen(function* () {
      const cluster = yield* PgCluster
      const rack = yield* ProcessRack.make({
        dir,
        ids,
        link: { pingIntervalMs: 200, inactivityTimeoutMs: 1000 }
      }).pipe(Effect.mapError((e) => failed(e.message)))
      const progress = yield* PubSub.unbounded<Progress>()
      const unexpected: Array<string> = []
      const replicas = yield* replicaSet({
        dir,
        count: options.replicas,
        storeUrl: cluster.url,
        authorityKey: join(dir, "certs", "authority.key"),
        members: rack.sleds.map((s) => `${s.id}=${s.apiUrl}`),
        progress,
        unexpected: (line) => unexpected.push(line)
      })
      const indices = Array.from({ length: options.replicas }, (_, i) => i)
      // Two lanes, one process at a time in each (sleds; replicas, which drive whatever the store holds as soon
      // as they run): all at once starves each of them on a loaded 2-core machine.
      yield* Effect.all(
        [
          Effect.forEach(rack.sleds, (s) => rack.start(s.index), { discard: true }).pipe(
            Effect.andThen(Effect.forEach(rack.sleds, (s) => rack.api(s.index), { discard: true })),
            Effect.mapError((e) => failed(e.message))
          ),
          Effect.forEach(indices, replicas.start, { discard: true }).pipe(Effect.mapError(failed))
        ],
        { concurrency: 2, discard: true }
      )
      const clients = yield* Effect.forEach(rack.sleds, (s) => MemberClient.fromHttp(s.apiUrl))
      const apis = yield* Effect.forEach(rack.sleds, (s) =>
        HttpApiClient.make(NodeApi, { baseUrl: s.apiUrl }).pipe(Effect.provide(FetchHttpClient.layer))
      )
      const clientOf = (id: BaseboardId.BaseboardId) =>
        Option.fromNullishOr(clients[ids.findIndex((x) => x.key === id.key)])

      // This process reads the store (and commits the first configuration) through a pool of its own.
      const storeContext = yield* Layer.build(ControlPlaneStore.ControlPlaneStore.layerPostgres(cluster.url)).pipe(
        Effect.mapError((e) => failed(e.message))
      )
      const store = Context.get(storeContext, ControlPlaneStore.ControlPlaneStore)
      const bootstrap = yield* Reconfigurator.make({
        rackId,
        authority: rack.authority,
        store,
        clientOf,
        options: { pollInterval: "25 millis", coordinatorTimeout: "2 seconds" }
      }).pipe(Effect.mapError((e) => failed(e.message)))
      yield* bootstrap.reconfigure(ids.slice(0, initialSize)).pipe(Effect.mapError((e) => failed(e.message)))
      yield* options.log("epoch 1 committed by the bootstrap driver")

      let figures: ReplicaFigures = {
        requests: 0,
        accepted: 0,
        refused: {},
        unanswered: 0,
        unansweredCommitted: 0,
        epochs: 0,
        aborted: 0,
        replicaKills: 0,
        postgresRestarts: 0,
        conflictsResolved: 0,
        takeOverMillis: [],
        takeOverDuringOutageMillis: [],
        unlocks: 0,
        invariantChecks: 0,
        lost: 0,
        hung: 0
      }
      const count = (f: (c: ReplicaFigures) => Partial<ReplicaFigures>) =>
        Effect.sync(() => {
          figures = { ...figures, ...f(figures) }
        })
      yield* Effect.forkScoped(
        Stream.runForEach(Stream.fromPubSub(progress), (p) =>
          p.tag === "Conflict" ? count((c) => ({ conflictsResolved: c.conflictsResolved + 1 })) : Effect.void
        ),
        { startImmediately: true }
      )

      /** PostgreSQL outages begun so far, and whether one is under way: a take-over that overlaps one is counted apart. */
      let outages = 0
      let down = false
      /** The store as it is now, retried while PostgreSQL is down (at most 30 s). */
      const readStore = store.load(rackId).pipe(
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 600 }),
        Effect.mapError((e) => failed(`the store stayed unavailable: ${e.message}`))
      )
      const accepted = new Map<string, number>()
      const unanswered = new Set<string>()
      /** The faults in flight (restarts after kills, the database outage): joined before the convergence check. */
      const restarts: Array<Fiber.Fiber<void, ReplicaCampaignFailed>> = []

      /** Kills the replica that accepted `epoch` and times how long until another replica moves that epoch on. */
      const killAfterAccept = (index: number, epoch: number) =>
        Effect.gen(function* () {
          const others = yield* Effect.forkScoped(
            Stream.fromPubSub(progress).pipe(
              Stream.filter((p) => p.replica !== index && p.epoch >= epoch && p.tag !== "Retrying"),
              Stream.runHead
            ),
            { startImmediately: true }
          )
          const killedAt = performance.now()
          const outagesBefore = outages
          const downBefore = down
          yield* replicas.kill(index)
          yield* count((c) => ({ replicaKills: c.replicaKills + 1 }))
          yield* options.log(`  replica ${index + 1} killed right after accepting epoch ${epoch}`)
          const next = yield* Fiber.join(others).pipe(Effect.timeoutOption("30 seconds"))
          const moved = Option.flatten(next)
          if (Option.isNone(moved)) {
            yield* count((c) => ({ hung: c.hung + 1 }))
            return yield* failed(`no replica took over epoch ${epoch} within 30 s`)
          }
          const millis = Math.round(Math.max(0, moved.value.at - killedAt))
          yield* count((c) =>
            downBefore || down || outages !== outagesBefore
              ? { takeOverDuringOutageMillis: [...c.takeOverDuringOutageMillis, millis] }
              : { takeOverMillis: [...c.takeOverMillis, millis] }
          )
          yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(200, 800)))
          yield* replicas.start(index).pipe(Effect.mapError(failed))
        })

      /** One request to a random running replica; the change is chosen from the last committed configuration. */
      const request = (n: number) =>
        Effect.gen(function* () {
          const state = yield* readStore
          const last = state.configs.filter((c) => c.phase === "Committed").at(-1)
          const members = last?.members.map((m) => m.id) ?? []
          const everMember = new Set(state.configs.flatMap((c) => c.members.map((m) => m.id.key)))
          const spare = ids.find((id) => !everMember.has(id.key))
          const kind = yield* Random.nextIntBetween(0, 2)
          const victim = members[yield* Random.nextIntBetween(0, Math.max(0, members.length - 1))]
          const change =
            kind === 0 && spare !== undefined
              ? { change: "add", member: String(spare) }
              : kind === 1 && victim !== undefined
                ? { change: "remove", member: String(victim) }
                : { change: "rotate" }
          const id = `req-${n}`
          const live = indices.filter(replicas.isRunning)
          const target = live[yield* Random.nextIntBetween(0, Math.max(0, live.length - 1))] ?? 0
          yield* count((c) => ({ requests: c.requests + 1 }))
          const answer = yield* replicas
            .send(target, id, JSON.stringify({ request: id, ...change }))
            .pipe(Effect.timeoutOption("60 seconds"))
          if (Option.isNone(answer)) {
            yield* count((c) => ({ hung: c.hung + 1 }))
            return yield* failed(`replica ${target + 1} did not answer ${id} within 60 s`)
          }
          const a = answer.value
          yield* options.log(
            `  ${id} (${change.change}${change.member === undefined ? "" : ` ${change.member}`}) to replica ${target + 1}: ${a._tag === "Accepted" ? `accepted at epoch ${a.epoch}` : a._tag === "Refused" ? `refused (${a.reason})` : "unanswered"}`
          )
          if (a._tag === "Refused") {
            if (!typedRefusals.has(a.reason))
              return yield* failed(`${id} was refused without a typed reason: ${a.reason}: ${a.message}`)
            return yield* count((c) => ({ refused: { ...c.refused, [a.reason]: (c.refused[a.reason] ?? 0) + 1 } }))
          }
          if (a._tag === "Unanswered") {
            unanswered.add(id)
            return yield* count((c) => ({ unanswered: c.unanswered + 1 }))
          }
          accepted.set(id, a.epoch)
          yield* count((c) => ({ accepted: c.accepted + 1 }))
          // Every other accepted request, the accepting replica dies at once: another must complete the request.
          if (accepted.size % 2 === 1) restarts.push(yield* Effect.forkScoped(killAfterAccept(target, a.epoch)))
        })

      let n = 0
      const halfway = Math.floor(options.requests / 2)
      while (n < options.requests) {
        const wave = Array.from({ length: Math.min(options.concurrency, options.requests - n) }, () => ++n)
        if (wave.includes(halfway + 1)) {
          // PostgreSQL crashes (immediate shutdown) while this wave is in flight and comes back a moment later.
          const outage = yield* Effect.forkScoped(
            Effect.gen(function* () {
              yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(50, 300)))
              yield* options.log("  PostgreSQL: immediate shutdown")
              outages++
              down = true
              yield* cluster.crash
              yield* count((c) => ({ postgresRestarts: c.postgresRestarts + 1 }))
              yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(300, 800)))
              yield* cluster.start.pipe(Effect.mapError((e) => failed(e.message)))
              down = false
              yield* options.log("  PostgreSQL: back")
            }),
            { startImmediately: true }
          )
          restarts.push(outage)
        }
        yield* Effect.forEach(wave, request, { concurrency: "unbounded", discard: true })
      }
      yield* Effect.forEach(restarts, Fiber.join, { discard: true })

      // ---- convergence ------------------------------------------------------------------------
      yield* Effect.forEach(indices, replicas.start, { discard: true }).pipe(Effect.mapError(failed))
      const settled = yield* readStore.pipe(
        Effect.repeat({
          schedule: Schedule.spaced("100 millis"),
          until: (s) => s.configs.every((c) => c.phase === "Committed" || c.phase === "Aborted")
        }),
        Effect.timeoutOption("60 seconds")
      )
      if (Option.isNone(settled)) {
        yield* count((c) => ({ hung: c.hung + 1 }))
        return yield* failed("the store still holds an unfinished epoch after 60 s")
      }
      const final = settled.value
      const committed = final.configs.filter((c) => c.phase === "Committed")
      yield* count(() => ({
        epochs: final.configs.length,
        aborted: final.configs.filter((c) => c.phase === "Aborted").length
      }))

      // Every accepted request committed exactly once; an unanswered one at most once.
      for (const [id, epoch] of accepted) {
        const times = committed.filter((c) => c.request === id).length
        if (times !== 1) {
          yield* count((c) => ({ lost: c.lost + (times === 0 ? 1 : 0) }))
          return yield* failed(`${id}, accepted at epoch ${epoch}, was committed ${times} times`)
        }
      }
      for (const id of unanswered) {
        const times = committed.filter((c) => c.request === id).length
        if (times > 1) return yield* failed(`${id} (unanswered) was committed ${times} times`)
        yield* count((c) => ({ unansweredCommitted: c.unansweredCommitted + times }))
      }

      // ---- every member unlocks the same secret ------------------------------------------------
      const latest = committed.at(-1)
      if (latest === undefined) return yield* failed("nothing was committed")
      const unlocked = yield* Effect.forEach(
        latest.members,
        (m) => {
          const api = apis[ids.findIndex((x) => x.key === m.id.key)]
          return api === undefined
            ? Effect.fail(failed(`no API client for ${m.id}`))
            : ProcessCampaign.unlockLatest(api).pipe(
                Effect.mapError((e) => failed(`${m.id} could not load the secret: ${e.message}`))
              )
        },
        { concurrency: "unbounded" }
      )
      if (unlocked.some(Option.isNone)) {
        yield* count((c) => ({ hung: c.hung + 1 }))
        return yield* failed("a member did not unlock within 30 s")
      }
      yield* count((c) => ({ unlocks: c.unlocks + unlocked.length }))
      const secrets = new Set(
        unlocked.map((u) => Option.match(u, { onNone: () => "", onSome: (s) => `${s.epoch}/${s.fingerprint}` }))
      )
      if (secrets.size !== 1) return yield* failed(`members unlocked different secrets: ${[...secrets].join(", ")}`)

      // ---- the ledgers against the store ---------------------------------------------------------
      yield* Effect.forEach(indices, replicas.kill, { discard: true })
      yield* Effect.forEach(rack.sleds, (s) => rack.kill(s.index), { discard: true })
      const states = new Map<string, PersistentState>()
      for (const sled of rack.sleds) {
        const loaded = yield* Ledger.file({ paths: sled.ledgerPaths, schema: PersistentState }).load.pipe(
          Effect.mapError((e) => failed(`${sled.id}: ${e.message}`))
        )
        if (Option.isSome(loaded)) states.set(sled.id.key, loaded.value)
      }
      const report = LedgerAudit.audit(states, final)
      yield* count((c) => ({ invariantChecks: c.invariantChecks + report.invariantChecks, lost: c.lost + report.lost }))
      if (report.violations.length > 0) {
        return yield* failed(report.violations.map((v) => `${v.invariant}: ${v.detail}`).join("; "))
      }
      const exits = [...unexpected, ...rack.unexpectedExits()]
      if (exits.length > 0) return yield* failed(`processes exited on their own: ${exits.join("; ")}`)
      return figures
    })

  return Effect.sync(() => mkdtempSync(join(tmpdir(), `tq-replicas-${options.seed}-`))).pipe(
    Effect.flatMap((dir) =>
      campaign(dir).pipe(
        Effect.provide(PgCluster.layer),
        Effect.catchTag("PgClusterError", (e) => Effect.fail(failed(e.message))),
        Effect.scoped,
        Effect.tap(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))),
        Effect.tapError((e) =>
          options.log(`campaign ${options.seed} failed; its files are kept in ${dir}: ${e.message}`)
        )
      )
    ),
    Random.withSeed(options.seed)
  )
}

/** Refusals a replica may answer with: typed reasons, never an unexplained failure. */
const typedRefusals = new Set<string>(["AlreadyAMember", "NotAMember", "TooFewMembers", "NoCommittedConfiguration"])
