/**
 * The control-plane driver (the Nexus analog, as a library): it turns "the rack should have these
 * members" into a committed configuration. It proposes the next epoch to a coordinator (a member that
 * committed the last configuration), polls until K+Z members prepared, then commits every member —
 * `commit` where the prepare was acknowledged, `prepareAndCommit` elsewhere — directly where the node
 * has an API and through a committed member's proxy where it has none, retrying `Disconnected`, `Busy`
 * and `Pending` with capped exponential backoff until a deadline. A coordinator that is lost aborts the epoch, and the
 * driver retries at the next one (epochs are never reused).
 *
 * Every decision is signed with the control plane's authority key: the reconfiguration it sends the
 * coordinator (which names that coordinator), and — only after K+Z acknowledgements, and only for a
 * configuration that matches what it decided field by field — the commit of the exact configuration
 * the coordinator built. Nodes act on nothing else.
 *
 * Progress is saved in a store after every step (by default a ledger file), so a restarted driver
 * resumes where it stopped; every step is also published as a `ProgressEvent` stream.
 */
import { Clock, Duration, Effect, Option, PubSub, Random, Schema, Stream } from "effect"
import type { SigningKey } from "../crypto/AuthorityKey.ts"
import type { Ledger } from "../runtime/Ledger.ts"
import * as BaseboardIdModule from "../types/BaseboardId.ts"
import { BaseboardId } from "../types/BaseboardId.ts"
import { Configuration } from "../types/Configuration.ts"
import * as Decision from "../types/Decision.ts"
import { Epoch } from "../types/Epoch.ts"
import { RackId } from "../types/RackId.ts"
import { ReconfigureMsg } from "../types/Request.ts"
import type { CallFailure, MemberClient } from "./MemberClient.ts"

/** A member's progress in one configuration. */
export const MemberProgress = Schema.Struct({
  id: BaseboardId,
  state: Schema.Literals(["Unacked", "Prepared", "Committed"]),
  via: Schema.NullOr(Schema.Literals(["direct", "proxy"]))
})
export type MemberProgress = typeof MemberProgress.Type

/** One configuration as the driver tracks it. */
export const PlannedConfig = Schema.Struct({
  epoch: Epoch,
  lastCommittedEpoch: Schema.NullOr(Epoch),
  coordinator: BaseboardId,
  threshold: Schema.Int,
  commitCrashTolerance: Schema.Int,
  members: Schema.Array(MemberProgress),
  phase: Schema.Literals(["Preparing", "Committing", "Committed", "Aborted"]),
  config: Schema.NullOr(Configuration),
  startedAt: Schema.Number,
  committedAt: Schema.NullOr(Schema.Number)
})
export type PlannedConfig = typeof PlannedConfig.Type

/** Everything the driver persists. */
export const DriverState = Schema.Struct({ rackId: RackId, configs: Schema.Array(PlannedConfig) })
export type DriverState = typeof DriverState.Type

/** What the driver reports as it goes. */
export type ProgressEvent =
  | {
      readonly _tag: "Proposed"
      readonly epoch: Epoch
      readonly coordinator: string
      readonly members: ReadonlyArray<string>
      readonly threshold: number
    }
  | { readonly _tag: "Prepared"; readonly epoch: Epoch; readonly acked: ReadonlyArray<string>; readonly needed: number }
  | { readonly _tag: "MemberCommitted"; readonly epoch: Epoch; readonly id: string; readonly via: "direct" | "proxy" }
  | { readonly _tag: "Committed"; readonly epoch: Epoch; readonly millis: number }
  | { readonly _tag: "Aborted"; readonly epoch: Epoch; readonly reason: string }
  | { readonly _tag: "Retrying"; readonly epoch: Epoch; readonly id: string; readonly reason: string }

/** The driver could not finish before its deadline, or was asked for something impossible. */
export class ReconfigurationFailed extends Schema.TaggedError<ReconfigurationFailed>()("ReconfigurationFailed", {
  epoch: Schema.NullOr(Epoch),
  reason: Schema.String
}) {
  override get message(): string {
    return `reconfiguration${this.epoch === null ? "" : ` of epoch ${this.epoch}`} failed: ${this.reason}`
  }
}

/** K = N/2 + 1, as the control plane of the original chooses it. */
export const thresholdFor = (members: number): number => Math.floor(members / 2) + 1

/** Z, extra prepare acknowledgements before committing: 0 for N ≤ 4, 1 to 8, 2 to 15, 3 to 23, else 4. */
export const commitCrashToleranceFor = (members: number): number =>
  members <= 4 ? 0 : members <= 8 ? 1 : members <= 15 ? 2 : members <= 23 ? 3 : 4

export interface ReconfiguratorOptions {
  /** How often the coordinator and pending members are polled (default 50 ms). */
  readonly pollInterval: Duration.Input
  /** The whole reconfiguration must finish in this time (default 60 s). */
  readonly deadline: Duration.Input
  /** A coordinator that cannot be reached, or no longer coordinates, for this long is abandoned (default 5 s). */
  readonly coordinatorTimeout: Duration.Input
  /** Members committed at once (default 5, as the original's control plane). */
  readonly concurrency: number
}

const defaults: ReconfiguratorOptions = {
  pollInterval: Duration.millis(50),
  deadline: Duration.seconds(60),
  coordinatorTimeout: Duration.seconds(5),
  concurrency: 5
}

const retryable = new Set([
  "Disconnected",
  "Busy",
  "NodeStopped",
  "ProxyTimeout",
  "Pending",
  "Unknown",
  "Unreachable",
  "RequestTimeout"
])

/** The driver. */
export interface Reconfigurator {
  /** Drives the rack to `members` (a new epoch), or finishes the configuration already in progress. */
  readonly reconfigure: (members: ReadonlyArray<BaseboardId>) => Effect.Effect<PlannedConfig, ReconfigurationFailed>
  /** Finishes the configuration in progress, if any. */
  readonly resume: Effect.Effect<Option.Option<PlannedConfig>, ReconfigurationFailed>
  readonly state: Effect.Effect<DriverState>
  readonly events: Stream.Stream<ProgressEvent>
}

/** Starts a driver for `rackId`, resuming the progress saved in `store`. */
export const make = (args: {
  readonly rackId: RackId
  /** The control plane's authority key: it signs every reconfiguration and commit. */
  readonly authority: SigningKey
  readonly store: Ledger<DriverState>
  /** The API client of a node, when it has an API. */
  readonly clientOf: (id: BaseboardId) => Option.Option<MemberClient>
  readonly options?: Partial<ReconfiguratorOptions>
}) =>
  Effect.gen(function* () {
    const options = { ...defaults, ...args.options }
    const loaded = yield* args.store.load.pipe(
      Effect.mapError((e) => new ReconfigurationFailed({ epoch: null, reason: e.message }))
    )
    let state: DriverState = Option.getOrElse(loaded, () => ({ rackId: args.rackId, configs: [] }))
    const pubsub = yield* PubSub.unbounded<ProgressEvent>()
    const emit = (event: ProgressEvent) => PubSub.publish(pubsub, event).pipe(Effect.asVoid)

    const save = (plan: PlannedConfig) =>
      Effect.gen(function* () {
        state = { ...state, configs: [...state.configs.filter((c) => c.epoch !== plan.epoch), plan] }
        yield* args.store
          .save(state)
          .pipe(Effect.mapError((e) => new ReconfigurationFailed({ epoch: plan.epoch, reason: e.message })))
        return plan
      })

    const latest = () =>
      state.configs.reduce<PlannedConfig | undefined>(
        (a, c) => (a === undefined || c.epoch > a.epoch ? c : a),
        undefined
      )
    const lastCommitted = () =>
      state.configs
        .filter((c) => c.phase === "Committed")
        .reduce<PlannedConfig | undefined>((a, c) => (a === undefined || c.epoch > a.epoch ? c : a), undefined)

    const fail = (plan: PlannedConfig | undefined, reason: string) =>
      new ReconfigurationFailed({ epoch: plan?.epoch ?? null, reason })

    /** A new plan at the next epoch, with a coordinator that committed the last configuration and has an API. */
    const propose = (members: ReadonlyArray<BaseboardId>) =>
      Effect.gen(function* () {
        const sorted = BaseboardIdModule.sortUnique(members)
        const last = lastCommitted()
        const eligible = sorted.filter(
          (id) =>
            Option.isSome(args.clientOf(id)) &&
            (last === undefined ||
              last.members.some((m) => m.state === "Committed" && BaseboardIdModule.equals(m.id, id)))
        )
        if (eligible.length === 0)
          return yield* fail(undefined, "no member that committed the last configuration has an API")
        const coordinator = eligible[yield* Random.nextIntBetween(0, eligible.length - 1)] ?? eligible[0]
        if (coordinator === undefined) return yield* fail(undefined, "no coordinator")
        const plan: PlannedConfig = {
          epoch: (latest()?.epoch ?? 0) + 1,
          lastCommittedEpoch: last?.epoch ?? null,
          coordinator,
          threshold: thresholdFor(sorted.length),
          commitCrashTolerance: commitCrashToleranceFor(sorted.length),
          members: sorted.map((id) => ({ id, state: "Unacked", via: null })),
          phase: "Preparing",
          config: null,
          startedAt: yield* Clock.currentTimeMillis,
          committedAt: null
        }
        yield* emit({
          _tag: "Proposed",
          epoch: plan.epoch,
          coordinator: coordinator.toString(),
          members: sorted.map(String),
          threshold: plan.threshold
        })
        return yield* save(plan)
      })

    /** Sends the reconfiguration and polls the coordinator until K+Z members prepared; none if the coordinator is lost. */
    const prepare = (plan: PlannedConfig) =>
      Effect.gen(function* () {
        const client = Option.getOrUndefined(args.clientOf(plan.coordinator))
        if (client === undefined) return Option.none<PlannedConfig>()
        const decided = {
          rackId: state.rackId,
          epoch: plan.epoch,
          lastCommittedEpoch: plan.lastCommittedEpoch,
          members: plan.members.map((m) => m.id),
          threshold: plan.threshold
        }
        const msg = new ReconfigureMsg({
          ...decided,
          signature: Decision.signReconfiguration(args.authority, { ...decided, coordinator: plan.coordinator })
        })
        const needed = plan.threshold + plan.commitCrashTolerance
        const timeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.coordinatorTimeout))
        let lastSeen = yield* Clock.currentTimeMillis
        let sent = false
        while (true) {
          const now = yield* Clock.currentTimeMillis
          if (now - lastSeen > timeoutMs) return Option.none<PlannedConfig>()
          if (!sent) {
            const r = yield* Effect.result(client.reconfigure(msg))
            // A retry of an accepted reconfiguration is refused as "already prepared": it is in progress.
            sent = r._tag === "Success" || r.failure._tag === "PreparedEpochMismatch"
            if (r._tag === "Failure" && !sent && !retryable.has(r.failure._tag)) {
              return yield* fail(plan, `the coordinator refused: ${r.failure._tag}`)
            }
          }
          if (sent) {
            const status = yield* Effect.result(client.coordinatorStatus)
            if (
              status._tag === "Success" &&
              Option.isSome(status.success) &&
              status.success.value.config.epoch === plan.epoch
            ) {
              lastSeen = now
              const s = status.success.value
              if (!matchesPlan(s.config, plan)) {
                // Never sign a commit of something the control plane did not decide: give this epoch up.
                yield* Effect.logError("the coordinator reports a configuration the control plane did not decide").pipe(
                  Effect.annotateLogs({ epoch: plan.epoch, coordinator: plan.coordinator.toString() })
                )
                return Option.none<PlannedConfig>()
              }
              if (s.ackedPrepares.length >= needed) {
                const acked = new Set(s.ackedPrepares.map((id) => id.key))
                yield* emit({ _tag: "Prepared", epoch: plan.epoch, acked: s.ackedPrepares.map(String), needed })
                return Option.some(
                  yield* save({
                    ...plan,
                    phase: "Committing",
                    config: s.config,
                    members: plan.members.map((m) => (acked.has(m.id.key) ? { ...m, state: "Prepared" } : m))
                  })
                )
              }
            }
          }
          yield* Effect.sleep(options.pollInterval)
        }
      })

    /** Whether the coordinator built exactly the configuration the control plane signed. */
    const matchesPlan = (config: Configuration, plan: PlannedConfig): boolean =>
      config.rackId === state.rackId &&
      config.epoch === plan.epoch &&
      config.threshold === plan.threshold &&
      BaseboardIdModule.equals(config.coordinator, plan.coordinator) &&
      config.authorization.lastCommittedEpoch === plan.lastCommittedEpoch &&
      config.members.length === plan.members.length &&
      config.members.every((m, i) => {
        const planned = plan.members[i]
        return planned !== undefined && BaseboardIdModule.equals(m.id, planned.id)
      }) &&
      Decision.verifyReconfiguration(args.authority.publicKey, config)

    /** Commits one member, directly or through a committed member's proxy, retrying until it reports Committed. */
    const pollMs = Duration.toMillis(Duration.fromInputUnsafe(options.pollInterval))

    const commitMember = (planRef: { current: PlannedConfig }, member: MemberProgress) =>
      Effect.gen(function* () {
        let attempts = 0
        while (true) {
          const plan = planRef.current
          const config = plan.config
          if (config === null) return yield* fail(plan, "no configuration to commit")
          // Deterministic (Ed25519): the same proof on every attempt and after a restart.
          const proof = Decision.signCommit(args.authority, config)
          const direct = Option.getOrUndefined(args.clientOf(member.id))
          const proxyOwner = plan.members.find(
            (m) =>
              m.state === "Committed" &&
              !BaseboardIdModule.equals(m.id, member.id) &&
              Option.isSome(args.clientOf(m.id))
          )
          const via: "direct" | "proxy" = direct !== undefined ? "direct" : "proxy"
          const proxy = proxyOwner === undefined ? undefined : Option.getOrUndefined(args.clientOf(proxyOwner.id))
          const prepared = member.state === "Prepared"
          const attempt =
            direct !== undefined
              ? prepared
                ? direct.commit(state.rackId, plan.epoch, proof)
                : direct.prepareAndCommit(config, proof)
              : proxy !== undefined
                ? prepared
                  ? proxy.proxyCommit(member.id, state.rackId, plan.epoch, proof)
                  : proxy.proxyPrepareAndCommit(member.id, config, proof)
                : Effect.fail<CallFailure>({
                    _tag: "Pending",
                    message: "no committed member with an API to proxy through yet"
                  })
          const result = yield* Effect.result(attempt)
          if (result._tag === "Success" && result.success === "Committed") {
            const updated = { ...member, state: "Committed" as const, via }
            // Updated before saving: members commit concurrently, and no update may start from a stale plan.
            planRef.current = {
              ...planRef.current,
              members: planRef.current.members.map((m) => (BaseboardIdModule.equals(m.id, member.id) ? updated : m))
            }
            yield* save(planRef.current)
            yield* emit({ _tag: "MemberCommitted", epoch: plan.epoch, id: member.id.toString(), via })
            return
          }
          const reason = result._tag === "Success" ? "Pending" : result.failure._tag
          // NotAuthorized on a commit: the member holds another configuration for this epoch than the one the
          // coordinator reported (a coordinator that equivocated); the signed PrepareAndCommit replaces it.
          if (reason === "NotPrepared" || (prepared && reason === "NotAuthorized")) {
            member = { ...member, state: "Unacked" }
          } else if (!retryable.has(reason)) {
            return yield* fail(plan, `${member.id} refused the commit: ${reason}`)
          }
          yield* emit({ _tag: "Retrying", epoch: plan.epoch, id: member.id.toString(), reason })
          // Capped exponential backoff: the poll interval, doubling per attempt, at most 2 s.
          attempts++
          yield* Effect.sleep(Duration.millis(Math.min(2000, pollMs * 2 ** Math.min(attempts, 10))))
        }
      })

    /** Commits the members that acked first (they give the proxies), then the rest. */
    const commit = (plan: PlannedConfig) =>
      Effect.gen(function* () {
        const ref = { current: plan }
        const pending = (state: MemberProgress["state"]) =>
          ref.current.members.filter((m) => m.state === state && Option.isSome(args.clientOf(m.id)))
        yield* Effect.forEach(pending("Prepared"), (m) => commitMember(ref, m), { concurrency: options.concurrency })
        const rest = ref.current.members.filter((m) => m.state !== "Committed")
        yield* Effect.forEach(rest, (m) => commitMember(ref, m), { concurrency: options.concurrency })
        const now = yield* Clock.currentTimeMillis
        const done = yield* save({ ...ref.current, phase: "Committed", committedAt: now })
        yield* emit({ _tag: "Committed", epoch: done.epoch, millis: now - done.startedAt })
        return done
      })

    /** Drives a plan to the end; a lost coordinator aborts it and proposes the same members at the next epoch. */
    const drive = (initial: PlannedConfig): Effect.Effect<PlannedConfig, ReconfigurationFailed> =>
      Effect.gen(function* () {
        let plan = initial
        while (true) {
          if (plan.phase === "Committed") return plan
          if (plan.phase === "Preparing") {
            const prepared = yield* prepare(plan)
            if (Option.isNone(prepared)) {
              yield* save({ ...plan, phase: "Aborted" })
              yield* emit({ _tag: "Aborted", epoch: plan.epoch, reason: "the coordinator was lost" })
              plan = yield* propose(plan.members.map((m) => m.id))
              continue
            }
            plan = prepared.value
          }
          if (plan.phase === "Committing") return yield* commit(plan)
          return yield* fail(plan, `cannot drive a configuration in phase ${plan.phase}`)
        }
      })

    const deadline = <A>(effect: Effect.Effect<A, ReconfigurationFailed>) =>
      effect.pipe(
        Effect.timeoutOrElse({
          duration: options.deadline,
          orElse: () => Effect.fail(fail(latest(), "the deadline passed; call resume to continue"))
        })
      )

    const inProgress = () => {
      const l = latest()
      return l !== undefined && (l.phase === "Preparing" || l.phase === "Committing") ? l : undefined
    }

    const reconfigurator: Reconfigurator = {
      reconfigure: (members) =>
        deadline(
          Effect.gen(function* () {
            const current = inProgress()
            if (current !== undefined) yield* drive(current)
            return yield* drive(yield* propose(members))
          })
        ),
      resume: deadline(
        Effect.suspend(() => {
          const current = inProgress()
          return current === undefined ? Effect.succeed(Option.none()) : Effect.map(drive(current), Option.some)
        })
      ),
      state: Effect.sync(() => state),
      events: Stream.fromPubSub(pubsub)
    }
    return reconfigurator
  })
