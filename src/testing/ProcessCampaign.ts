/**
 * A process-fault campaign: a rack of real node processes (mutual TLS, file ledgers, a short link
 * inactivity timeout, each reached through a `FaultyRelay`) that the control-plane driver grows and
 * shrinks, one membership change per round, while sleds are killed with SIGKILL and restarted, or paused
 * with SIGSTOP for longer than the inactivity timeout and resumed, or the whole peer network goes silent
 * for as long, and proxied `Status` probes run between random pairs the whole time.
 *
 * After the rounds every sled comes back, every member of the latest committed configuration must
 * unlock the same secret, and then, from the ledgers on disk and the driver's saved progress, the
 * `LedgerAudit` invariants must hold; no probe or reconfiguration may be left waiting, no process may
 * exit on its own or log a defect, and no secret or share may appear in any log line.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cause, Clock, Duration, Effect, Fiber, Option, Random, Schedule, Schema, Stream } from "effect"
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
import * as ProcessRack from "./ProcessRack.ts"

export interface CampaignOptions {
  readonly seed: number
  /** Membership changes per campaign. */
  readonly rounds: number
  /** Sleds in the pool: 4 form the first configuration, the rest are added later (default 6). */
  readonly pool: number
  /** Link ping interval and inactivity timeout of every node (default 200 ms and 1,000 ms). */
  readonly pingIntervalMs: number
  readonly inactivityTimeoutMs: number
  /** Progress lines (default: none). */
  readonly log: (line: string) => Effect.Effect<void>
}

/** The figures of one or more campaigns. */
export interface CampaignFigures {
  readonly campaigns: number
  readonly rounds: number
  readonly kills: number
  readonly pauses: number
  /** Whole-network outages: every relay black-holes for longer than the inactivity timeout. */
  readonly outages: number
  readonly reconfigurations: number
  readonly aborted: number
  readonly probes: number
  readonly probeOutcomes: Readonly<Record<string, number>>
  /** The longest a probe whose destination was unreachable took to fail with `Disconnected`. */
  readonly maxMillisToDisconnected: number
  readonly unlocks: number
  readonly invariantChecks: number
  readonly logLines: number
  readonly lost: number
  readonly hung: number
  readonly defects: number
  readonly leaks: number
}

/** A campaign broke an invariant or left something waiting; `detail` says what and where. */
export class CampaignFailed extends Schema.TaggedError<CampaignFailed>()("CampaignFailed", {
  seed: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `campaign with seed ${this.seed} failed: ${this.detail}`
  }
}

export const defaultOptions: CampaignOptions = {
  seed: 1,
  rounds: 4,
  pool: 6,
  pingIntervalMs: 200,
  inactivityTimeoutMs: 1000,
  log: () => Effect.void
}

const rackId = "c4a05000-0000-4000-8000-000000000001"
const initialSize = 4
const minimumSize = 3

/** Probe outcomes that are answers (a status, or a typed refusal); anything else fails the campaign. */
const typedOutcomes = new Set(["Success", "Disconnected", "NodeStopped", "Busy", "Unreachable"])

/** Log lines that mean a node hit a bug rather than a fault of its environment. */
const defectPattern = /\blevel=(?:ERROR|FATAL)\b|Defect|defect/

const emptyFigures = (): CampaignFigures => ({
  campaigns: 0,
  rounds: 0,
  kills: 0,
  pauses: 0,
  outages: 0,
  reconfigurations: 0,
  aborted: 0,
  probes: 0,
  probeOutcomes: {},
  maxMillisToDisconnected: 0,
  unlocks: 0,
  invariantChecks: 0,
  logLines: 0,
  lost: 0,
  hung: 0,
  defects: 0,
  leaks: 0
})

/** The one-line summary every suite prints: the common figures first, then this suite's own. */
export const figuresLine = (figures: CampaignFigures, extra: Readonly<Record<string, unknown>> = {}): string =>
  JSON.stringify({
    suite: "process-faults",
    faults: figures.kills + figures.pauses + figures.outages,
    requests: figures.probes + figures.reconfigurations + figures.unlocks,
    ...figures,
    ...extra
  })

/** The figures that add up across campaigns (the rest: outcomes merge by key, the maximum is a maximum). */
const counts = [
  "campaigns",
  "rounds",
  "kills",
  "pauses",
  "outages",
  "reconfigurations",
  "aborted",
  "probes",
  "unlocks",
  "invariantChecks",
  "logLines",
  "lost",
  "hung",
  "defects",
  "leaks"
] as const satisfies ReadonlyArray<keyof CampaignFigures>

/** Adds two sets of figures. */
export const addFigures = (a: CampaignFigures, b: CampaignFigures): CampaignFigures => {
  const probeOutcomes: Record<string, number> = { ...a.probeOutcomes }
  for (const [k, v] of Object.entries(b.probeOutcomes)) probeOutcomes[k] = (probeOutcomes[k] ?? 0) + v
  const sum: { -readonly [K in keyof CampaignFigures]: CampaignFigures[K] } = {
    ...a,
    probeOutcomes,
    maxMillisToDisconnected: Math.max(a.maxMillisToDisconnected, b.maxMillisToDisconnected)
  }
  for (const key of counts) sum[key] = a[key] + b[key]
  return sum
}

const sledIds = (n: number) =>
  Array.from({ length: n }, (_, i) => BaseboardId.make("913-0000019", `CHAOS${String(i + 1).padStart(4, "0")}`))

/** Loads the latest secret at a node's API, polling until it is loaded; none after 30 s. Never the secret itself. */
export const unlockLatest = (api: HttpApiClient.ForApi<typeof NodeApi>) =>
  api
    .loadLatestRackSecret()
    .pipe(
      Effect.provide(FetchHttpClient.layer),
      Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (s) => s._tag === "Loaded" }),
      Effect.timeoutOption("30 seconds"),
      Effect.map(
        Option.flatMap((s) =>
          s._tag === "Loaded" ? Option.some({ epoch: s.epoch, fingerprint: s.fingerprint }) : Option.none()
        )
      )
    )

/** Runs one campaign in a fresh directory (removed afterwards unless it failed). */
export const runCampaign = (partial: Partial<CampaignOptions>) => {
  const options = { ...defaultOptions, ...partial }
  const seed = options.seed
  const failed = (detail: string) => new CampaignFailed({ seed, detail })
  const ids = sledIds(options.pool)
  const campaign = (dir: string) =>
    Effect.gen(function* () {
      const rack = yield* ProcessRack.make({
        dir,
        ids,
        apiAfterCommit: (i) => i >= initialSize,
        link: { pingIntervalMs: options.pingIntervalMs, inactivityTimeoutMs: options.inactivityTimeoutMs },
        logLevel: "All",
        relays: true
      })
      // A node process that exits on its own fails the campaign at once, with the reason it printed.
      return yield* runRounds(dir, rack).pipe(
        Effect.raceFirst(
          Effect.flatMap(rack.firstUnexpectedExit, (exit) =>
            Effect.fail(failed(`a node process exited on its own: ${exit}`))
          )
        )
      )
    }).pipe(Effect.scoped)
  const runRounds = (dir: string, rack: ProcessRack.ProcessRack) =>
    Effect.gen(function* () {
      const indexOf = new Map(ids.map((id, i) => [id.key, i] as const))
      const requestTimeout = Duration.millis(options.inactivityTimeoutMs * 2)
      const clients = yield* Effect.forEach(rack.sleds, (s) =>
        MemberClient.fromHttp(s.apiUrl, { timeout: requestTimeout })
      )
      const apis = yield* Effect.forEach(rack.sleds, (s) =>
        HttpApiClient.make(NodeApi, { baseUrl: s.apiUrl }).pipe(Effect.provide(FetchHttpClient.layer))
      )
      /** A sled's API client while its current process has its API open. */
      const clientOf = (id: BaseboardId.BaseboardId) => {
        const i = indexOf.get(id.key)
        return i !== undefined && Option.isSome(rack.apiNow(i)) ? Option.fromNullishOr(clients[i]) : Option.none()
      }
      const driver = yield* Reconfigurator.make({
        rackId,
        authority: rack.authority,
        store: ControlPlaneStore.file([join(dir, "driver.json")]),
        clientOf,
        options: { pollInterval: "25 millis", coordinatorTimeout: "2 seconds", deadline: "45 seconds" }
      })
      let figures: CampaignFigures = { ...emptyFigures(), campaigns: 1 }
      const count = (f: (c: CampaignFigures) => Partial<CampaignFigures>) =>
        Effect.sync(() => {
          figures = { ...figures, ...f(figures) }
        })
      yield* Effect.forkScoped(
        Stream.runForEach(driver.events, (e) =>
          e._tag === "Aborted"
            ? Effect.andThen(
                count((c) => ({ aborted: c.aborted + 1 })),
                options.log(`  epoch ${e.epoch} aborted: ${e.reason}`)
              )
            : Effect.void
        ),
        { startImmediately: true }
      )
      const started = new Set<number>()
      const startSled = (i: number) =>
        Effect.andThen(
          Effect.sync(() => started.add(i)),
          rack.start(i).pipe(Effect.mapError((e) => failed(e.message)))
        )

      // ---- the first configuration -------------------------------------------------------------
      let members = ids.slice(0, initialSize)
      yield* Effect.forEach(members, (id) => startSled(indexOf.get(id.key) ?? 0), { concurrency: "unbounded" })
      yield* Effect.forEach(members, (id) => rack.api(indexOf.get(id.key) ?? 0), { discard: true }).pipe(
        Effect.mapError((e) => failed(e.message))
      )

      /** Drives the rack to `target`; a failed attempt (a deadline passed under faults) resumes, at most 3 times. */
      const driveTo = (target: ReadonlyArray<BaseboardId.BaseboardId>) =>
        Effect.gen(function* () {
          yield* count((c) => ({ reconfigurations: c.reconfigurations + 1 }))
          let attempt = yield* Effect.result(driver.reconfigure(target))
          for (let i = 0; i < 3 && attempt._tag === "Failure"; i++) {
            yield* options.log(`  driver: ${attempt.failure.message}; resuming`)
            attempt = yield* Effect.result(Effect.map(driver.resume, Option.getOrThrow))
          }
          if (attempt._tag === "Failure") {
            yield* count((c) => ({ hung: c.hung + 1 }))
            return yield* failed(`the driver could not finish: ${attempt.failure.message}`)
          }
          return attempt.success
        })

      yield* driveTo(members)
      yield* options.log(`  epoch 1 committed: ${members.map(String).join(", ")}`)

      // ---- rounds: a membership change under faults and probes ---------------------------------
      const live = () => members.map((id) => indexOf.get(id.key) ?? 0).filter((i) => rack.state(i) !== "stopped")
      const pauseMs = Math.round(options.inactivityTimeoutMs * 1.5)

      /** One fault on a random member: kill -9 and restart, or a pause longer than the inactivity timeout. */
      const fault = Effect.gen(function* () {
        yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(0, 400)))
        const candidates = live()
        if (candidates.length === 0) return
        const victim = candidates[yield* Random.nextIntBetween(0, candidates.length - 1)] ?? 0
        const kind = yield* Random.nextIntBetween(0, 2)
        if (kind === 0) {
          yield* options.log(`  fault: kill -9 ${ids[victim]}`)
          yield* count((c) => ({ kills: c.kills + 1 }))
          yield* rack.kill(victim)
          yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(100, 1000)))
          yield* startSled(victim)
        } else if (kind === 1) {
          yield* options.log(`  fault: SIGSTOP ${ids[victim]} for ${pauseMs} ms`)
          yield* count((c) => ({ pauses: c.pauses + 1 }))
          yield* rack.pause(victim)
          yield* Effect.sleep(Duration.millis(pauseMs))
          yield* rack.resume(victim)
        } else {
          // The whole peer network goes silent (every relay black-holes) for longer than the inactivity timeout.
          yield* options.log(`  fault: network outage for ${pauseMs} ms`)
          yield* count((c) => ({ outages: c.outages + 1 }))
          yield* rack.setNetworkFault({ _tag: "Blackhole" })
          yield* Effect.sleep(Duration.millis(pauseMs))
          yield* rack.setNetworkFault({ _tag: "Pass" })
        }
      })

      const probeBound = pauseMs + options.inactivityTimeoutMs * 3 + 2000
      /** One proxied Status from a random member with an API to a random other sled of the rack. */
      const probe = (targets: ReadonlyArray<BaseboardId.BaseboardId>) =>
        Effect.gen(function* () {
          const sources = live().filter((i) => Option.isSome(rack.apiNow(i)))
          const source = sources[yield* Random.nextIntBetween(0, Math.max(0, sources.length - 1))]
          const others = targets.filter((id) => indexOf.get(id.key) !== source)
          const destination = others[yield* Random.nextIntBetween(0, Math.max(0, others.length - 1))]
          const api = source === undefined ? undefined : apis[source]
          if (api === undefined || destination === undefined) return yield* Effect.sleep("50 millis")
          const t0 = yield* Clock.currentTimeMillis
          const outcome = yield* api.proxyStatus({ payload: { destination } }).pipe(
            Effect.provide(FetchHttpClient.layer),
            Effect.as("Success"),
            Effect.catch((e) => Effect.succeed(MemberClient.httpFailure(e)._tag)),
            Effect.timeoutOrElse({ duration: Duration.millis(probeBound), orElse: () => Effect.succeed("Hung") })
          )
          const millis = (yield* Clock.currentTimeMillis) - t0
          yield* count((c) => ({
            probes: c.probes + 1,
            probeOutcomes: { ...c.probeOutcomes, [outcome]: (c.probeOutcomes[outcome] ?? 0) + 1 },
            hung: c.hung + (outcome === "Hung" ? 1 : 0),
            maxMillisToDisconnected:
              outcome === "Disconnected" ? Math.max(c.maxMillisToDisconnected, millis) : c.maxMillisToDisconnected
          }))
          if (!typedOutcomes.has(outcome)) {
            return yield* failed(`a proxied Status from ${ids[source ?? 0]} to ${destination} ended in ${outcome}`)
          }
        })

      for (let round = 1; round <= options.rounds; round++) {
        // Add a sled that never ran, remove a member (never below the minimum: removed sleds are retired), or,
        // when neither is possible, rotate the secret: a new epoch with the same members.
        const spares = ids.filter((_, i) => !started.has(i))
        const changes = [
          ...(spares.length > 0 ? (["add"] as const) : []),
          ...(members.length > minimumSize ? (["remove"] as const) : [])
        ]
        const change = changes.length === 0 ? "rotate" : changes[yield* Random.nextIntBetween(0, changes.length - 1)]
        const added = change === "add" ? spares[0] : undefined
        const removed = change === "remove" ? members[yield* Random.nextIntBetween(0, members.length - 1)] : undefined
        const target = added !== undefined ? [...members, added] : members.filter((m) => m.key !== removed?.key)
        yield* options.log(
          `round ${round}: ${added !== undefined ? `add ${added}` : removed !== undefined ? `remove ${removed}` : "rotate the secret"}`
        )
        if (added !== undefined) yield* startSled(indexOf.get(added.key) ?? 0)
        const probes = yield* Effect.forkChild(
          Effect.forever(Effect.andThen(probe([...members, ...(added === undefined ? [] : [added])]), Effect.yieldNow)),
          { startImmediately: true }
        )
        // One or two faults per round, one after the other, so a threshold of members stays up.
        const faults = yield* Effect.forkChild(Effect.andThen(fault, Effect.when(fault, Random.nextBoolean)), {
          startImmediately: true
        })
        const plan = yield* driveTo(target).pipe(
          Effect.onError(() => Effect.andThen(Fiber.interrupt(faults), Fiber.interrupt(probes)))
        )
        yield* Fiber.join(faults)
        yield* Fiber.interrupt(probes)
        // A probe that failed (rather than being interrupted) fails the campaign.
        const probeExit = yield* Fiber.await(probes)
        if (probeExit._tag === "Failure" && !Cause.hasInterruptsOnly(probeExit.cause)) {
          return yield* failed(`a probe failed: ${String(probeExit.cause)}`)
        }
        members = plan.members.map((m) => m.id)
        yield* options.log(`  epoch ${plan.epoch} committed (${plan.members.length} members)`)
        if (removed !== undefined) yield* rack.kill(indexOf.get(removed.key) ?? 0)
        yield* count((c) => ({ rounds: c.rounds + 1 }))
      }

      // ---- every member unlocks the same secret -----------------------------------------------
      const unlocked = yield* Effect.forEach(
        members,
        (id) => {
          const i = indexOf.get(id.key) ?? 0
          return Effect.gen(function* () {
            if (rack.state(i) === "stopped") yield* startSled(i)
            const api = apis[i]
            if (api === undefined) return yield* failed(`no API client for ${id}`)
            yield* rack.api(i).pipe(Effect.mapError((e) => failed(e.message)))
            const loaded = yield* unlockLatest(api).pipe(
              Effect.mapError((e) => failed(`${id} could not load the secret: ${e.message}`))
            )
            if (Option.isNone(loaded)) {
              yield* count((c) => ({ hung: c.hung + 1 }))
              return yield* failed(`${id} did not unlock within 30 s`)
            }
            yield* count((c) => ({ unlocks: c.unlocks + 1 }))
            return loaded.value
          })
        },
        { concurrency: "unbounded" }
      )
      const unlockedSet = new Set(unlocked.map((u) => `${u.epoch}/${u.fingerprint}`))
      if (unlockedSet.size !== 1) return yield* failed(`members unlocked different secrets: ${[...unlockedSet]}`)

      // ---- stop everything, then audit what is on disk -----------------------------------------
      yield* Effect.forEach(rack.sleds, (s) => Effect.andThen(rack.resume(s.index), rack.kill(s.index)), {
        discard: true
      })
      const exits = rack.unexpectedExits()
      if (exits.length > 0) return yield* failed(`processes exited on their own: ${exits.join("; ")}`)
      const states = new Map<string, PersistentState>()
      for (const i of started) {
        const sled = rack.sleds[i]
        if (sled === undefined) continue
        const loaded = yield* Ledger.file({ paths: sled.ledgerPaths, schema: PersistentState }).load.pipe(
          Effect.mapError((e) => failed(`${sled.id}: ${e.message}`))
        )
        if (Option.isSome(loaded)) states.set(sled.id.key, loaded.value)
      }
      const report = LedgerAudit.audit(states, yield* driver.state)
      yield* count((c) => ({ invariantChecks: c.invariantChecks + report.invariantChecks, lost: c.lost + report.lost }))
      if (report.violations.length > 0) {
        return yield* failed(report.violations.map((v) => `${v.invariant}: ${v.detail}`).join("; "))
      }
      const [only] = unlocked
      const latest = Math.max(...report.fingerprints.keys())
      if (only === undefined || report.fingerprints.get(latest) !== only.fingerprint || only.epoch !== latest) {
        return yield* failed("the secret the members unlocked is not the one their ledgers' shares recombine to")
      }

      // ---- the logs: no defect, no secret --------------------------------------------------------
      const lines = rack.sleds.flatMap((s) =>
        started.has(s.index)
          ? readFileSync(s.logPath, "utf8")
              .split("\n")
              .filter((l) => l !== "")
          : []
      )
      const defects = lines.filter((l) => defectPattern.test(l))
      const leaks = report.secretForms.filter((form) => lines.some((l) => l.includes(form)))
      yield* count((c) => ({ logLines: c.logLines + lines.length, defects: defects.length, leaks: leaks.length }))
      if (defects.length > 0) return yield* failed(`a node logged a defect: ${defects[0]}`)
      if (leaks.length > 0) return yield* failed(`${leaks.length} secret or share encodings appear in the logs`)
      return figures
    })
  // Each run gets a fresh directory, removed on success and kept for inspection on failure.
  return Effect.sync(() => mkdtempSync(join(tmpdir(), `tq-chaos-${seed}-`))).pipe(
    Effect.flatMap((dir) =>
      campaign(dir).pipe(
        Effect.tap(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))),
        Effect.tapError((e) => options.log(`campaign ${seed} failed; its files are kept in ${dir}: ${e.message}`))
      )
    ),
    Random.withSeed(seed)
  )
}
