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
 * the coordinator built. Nodes act on nothing else. Signing is deterministic (Ed25519), so any replica
 * signs the same statements again from the plan in the store; no signature is stored.
 *
 * Every decision and every step of progress goes to a `ControlPlaneStore` (a ledger file for one driver
 * process, PostgreSQL for several replicas) as a conditional write: a proposal only on top of the last
 * committed epoch, Preparing → Committing, a member's commit, Committing → Committed, an abort together
 * with its successor. A driver whose view is stale gets `StaleView`, re-reads and carries on from what the
 * store holds, so any number of drivers can drive one rack: `run` is the replica loop that picks up the
 * latest unfinished configuration and drives it (every step is idempotent), so a request accepted by one
 * replica is completed by the others if it dies. Every step is also published as a `ProgressEvent` stream.
 */
import { Clock, Duration, Effect, Option, PubSub, Random, Schema, Stream } from "effect"
import type { SigningKey } from "../crypto/AuthorityKey.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as BaseboardIdModule from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import * as Decision from "../types/Decision.ts"
import { Epoch } from "../types/Epoch.ts"
import type { RackId } from "../types/RackId.ts"
import { ReconfigureMsg } from "../types/Request.ts"
import {
  type ControlPlaneStoreShape,
  type DriverState,
  lastCommittedOf,
  latestOf,
  type MemberProgress,
  type PlannedConfig,
  type StaleView,
  type StoreError
} from "./ControlPlaneStore.ts"
import type { CallFailure, MemberClient } from "./MemberClient.ts"

export { DriverState, MemberProgress, PlannedConfig } from "./ControlPlaneStore.ts"

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
  /** Another driver changed the store first; this one re-read it and continued from there. */
  | { readonly _tag: "Conflict"; readonly epoch: Epoch; readonly step: StaleView["step"] }

/** The driver could not finish before its deadline, or was asked for something impossible. */
export class ReconfigurationFailed extends Schema.TaggedError<ReconfigurationFailed>()("ReconfigurationFailed", {
  epoch: Schema.NullOr(Epoch),
  reason: Schema.String
}) {
  override get message(): string {
    return `reconfiguration${this.epoch === null ? "" : ` of epoch ${this.epoch}`} failed: ${this.reason}`
  }
}

/** Why a membership request was refused before anything was proposed. */
export class RequestRefused extends Schema.TaggedError<RequestRefused>()("RequestRefused", {
  request: Schema.String,
  reason: Schema.Literals(["AlreadyAMember", "NotAMember", "TooFewMembers", "NoCommittedConfiguration"]),
  member: Schema.NullOr(Schema.String)
}) {
  override get message(): string {
    const what = {
      AlreadyAMember: `${this.member} is already a member`,
      NotAMember: `${this.member} is not a member`,
      TooFewMembers: `the rack would have fewer than ${minimumMembers} members`,
      NoCommittedConfiguration: "the rack has no committed configuration to change yet"
    }[this.reason]
    return `request ${this.request} refused: ${what}; nothing was proposed`
  }
}

/** A membership request, relative to the last committed configuration (`Set` names the members outright). */
export type MembershipChange =
  | { readonly _tag: "Set"; readonly members: ReadonlyArray<BaseboardId> }
  | { readonly _tag: "Add"; readonly id: BaseboardId }
  | { readonly _tag: "Remove"; readonly id: BaseboardId }
  | { readonly _tag: "Rotate" }

/** The protocol needs more members than the threshold, and K = N/2+1: fewer than 3 members cannot work. */
export const minimumMembers = 3

/** K = N/2 + 1, as the control plane of the original chooses it. */
export const thresholdFor = (members: number): number => Math.floor(members / 2) + 1

/** Z, extra prepare acknowledgements before committing: 0 for N ≤ 4, 1 to 8, 2 to 15, 3 to 23, else 4. */
export const commitCrashToleranceFor = (members: number): number =>
  members <= 4 ? 0 : members <= 8 ? 1 : members <= 15 ? 2 : members <= 23 ? 3 : 4

export interface ReconfiguratorOptions {
  /** How often the coordinator and pending members are polled, and the store when idle (default 50 ms). */
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
  /**
   * Accepts a membership request: finishes any configuration in progress, then proposes the next epoch in the
   * store and returns its plan (phase Preparing) once the store holds it. Any replica's `run` completes it.
   */
  readonly submit: (
    change: MembershipChange,
    request: string
  ) => Effect.Effect<PlannedConfig, RequestRefused | ReconfigurationFailed>
  /** Drives a plan to Committed, following its request to the next epoch when its coordinator is lost. */
  readonly complete: (plan: PlannedConfig) => Effect.Effect<PlannedConfig, ReconfigurationFailed>
  /** Finishes the configuration in progress, if any. */
  readonly resume: Effect.Effect<Option.Option<PlannedConfig>, ReconfigurationFailed>
  /** The replica loop: forever picks up the rack's latest unfinished configuration and drives it. */
  readonly run: Effect.Effect<never>
  /** What the store holds for the rack now. */
  readonly state: Effect.Effect<DriverState, ReconfigurationFailed>
  readonly events: Stream.Stream<ProgressEvent>
}

/** A request id: 64 random bits in hex. */
export const newRequestId: Effect.Effect<string> = Effect.map(
  Effect.forEach([0, 1, 2, 3], () => Random.nextIntBetween(0, 0xffff)),
  (parts) => parts.map((p) => p.toString(16).padStart(4, "0")).join("")
)

/** Starts a driver for `rackId` over `store` (it resumes whatever the store holds). */
export const make = (args: {
  readonly rackId: RackId
  /** The control plane's authority key: it signs every reconfiguration and commit. */
  readonly authority: SigningKey
  readonly store: ControlPlaneStoreShape
  /** The API client of a node, when it has an API. */
  readonly clientOf: (id: BaseboardId) => Option.Option<MemberClient>
  readonly options?: Partial<ReconfiguratorOptions>
}) =>
  Effect.gen(function* () {
    const options = { ...defaults, ...args.options }
    const { rackId, store } = args
    const pubsub = yield* PubSub.unbounded<ProgressEvent>()
    const emit = (event: ProgressEvent) => PubSub.publish(pubsub, event).pipe(Effect.asVoid)
    const fail = (plan: PlannedConfig | undefined, reason: string) =>
      new ReconfigurationFailed({ epoch: plan?.epoch ?? null, reason })
    const storeFailed = (e: StoreError) => fail(undefined, e.message)

    /** The last view read from the store; every decision starts from it and every conflict refreshes it. */
    let view: DriverState = yield* store.load(rackId).pipe(Effect.mapError(storeFailed))
    const reload = Effect.tap(store.load(rackId), (loaded) =>
      Effect.sync(() => {
        view = loaded
      })
    )

    const latest = () => latestOf(view.configs)
    const lastCommitted = () => lastCommittedOf(view.configs)
    const planAt = (epoch: Epoch) => view.configs.find((c) => c.epoch === epoch)
    const inProgress = () => {
      const l = latest()
      return l !== undefined && (l.phase === "Preparing" || l.phase === "Committing") ? l : undefined
    }

    /** A plan for `members` at the next epoch, with a coordinator that committed the last configuration and has an API. */
    const planFor = (members: ReadonlyArray<BaseboardId>, request: string) =>
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
          committedAt: null,
          request
        }
        return plan
      })

    const proposed = (plan: PlannedConfig) =>
      emit({
        _tag: "Proposed",
        epoch: plan.epoch,
        coordinator: plan.coordinator.toString(),
        members: plan.members.map((m) => String(m.id)),
        threshold: plan.threshold
      })

    /** Sends the reconfiguration and polls the coordinator until K+Z members prepared; none if the coordinator is lost. */
    const prepare = (plan: PlannedConfig) =>
      Effect.gen(function* () {
        const client = Option.getOrUndefined(args.clientOf(plan.coordinator))
        if (client === undefined) return Option.none<PlannedConfig>()
        const decided = {
          rackId,
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
                yield* store.prepared(rackId, plan.epoch, s.config, s.ackedPrepares)
                yield* emit({ _tag: "Prepared", epoch: plan.epoch, acked: s.ackedPrepares.map(String), needed })
                return Option.some<PlannedConfig>({
                  ...plan,
                  phase: "Committing",
                  config: s.config,
                  members: plan.members.map((m) => (acked.has(m.id.key) ? { ...m, state: "Prepared" } : m))
                })
              }
            }
          }
          yield* Effect.sleep(options.pollInterval)
        }
      })

    /** Whether the coordinator built exactly the configuration the control plane signed. */
    const matchesPlan = (config: Configuration, plan: PlannedConfig): boolean =>
      config.rackId === rackId &&
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
                ? direct.commit(rackId, plan.epoch, proof)
                : direct.prepareAndCommit(config, proof)
              : proxy !== undefined
                ? prepared
                  ? proxy.proxyCommit(member.id, rackId, plan.epoch, proof)
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
            yield* store.memberCommitted(rackId, plan.epoch, member.id, via)
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
        yield* store.committed(rackId, plan.epoch, now)
        yield* emit({ _tag: "Committed", epoch: plan.epoch, millis: now - plan.startedAt })
        return { ...ref.current, phase: "Committed" as const, committedAt: now }
      })

    /** One step of a plan: prepare (or, the coordinator lost, abort and propose the same members at the next epoch), or commit. */
    const step = (plan: PlannedConfig): Effect.Effect<PlannedConfig, ReconfigurationFailed | StoreError> =>
      Effect.gen(function* () {
        if (plan.phase === "Committing") return yield* commit(plan)
        const prepared = yield* prepare(plan)
        if (Option.isSome(prepared)) return prepared.value
        const next = yield* planFor(
          plan.members.map((m) => m.id),
          plan.request ?? ""
        )
        yield* store.abort(rackId, plan.epoch, Option.some(next))
        yield* emit({ _tag: "Aborted", epoch: plan.epoch, reason: "the coordinator was lost" })
        yield* proposed(next)
        return next
      })

    /** Waits a poll interval and reads the store again, until it answers (PostgreSQL may be restarting). */
    const rereadAfterOutage = reload.pipe(Effect.delay(options.pollInterval), Effect.eventually)

    /**
     * Drives a plan to the end. A conflict re-reads the store and continues from what it holds; an abort is
     * followed to the next epoch when it carries the same request (the aborting driver proposed it in the same step).
     */
    const drive = (initial: PlannedConfig): Effect.Effect<PlannedConfig, ReconfigurationFailed> =>
      Effect.gen(function* () {
        let plan = initial
        while (true) {
          if (plan.phase === "Committed") return plan
          if (plan.phase === "Aborted") {
            const next = planAt(plan.epoch + 1)
            if (next === undefined || next.request !== plan.request) return yield* fail(plan, "the epoch was aborted")
            plan = next
            continue
          }
          const outcome = yield* Effect.result(step(plan))
          if (outcome._tag === "Success") {
            plan = outcome.success
            continue
          }
          const error = outcome.failure
          if (error._tag === "ReconfigurationFailed") {
            // A node refusing may only mean that another driver finished or abandoned this step: the store decides.
            yield* reload.pipe(Effect.ignore)
            const current = planAt(plan.epoch)
            if (current === undefined || current.phase === plan.phase) return yield* error
            yield* emit({
              _tag: "Conflict",
              epoch: plan.epoch,
              step: plan.phase === "Preparing" ? "prepared" : "committed"
            })
            plan = current
            continue
          }
          if (error._tag === "StaleView") yield* emit({ _tag: "Conflict", epoch: error.epoch, step: error.step })
          else yield* emit({ _tag: "Retrying", epoch: plan.epoch, id: "store", reason: error.message })
          yield* rereadAfterOutage
          const current = planAt(plan.epoch)
          if (current === undefined) return yield* fail(plan, "the store no longer holds this epoch")
          plan = current
        }
      })

    /** The members a request asks for, from the last committed configuration. */
    const targetOf = (change: MembershipChange, request: string) =>
      Effect.gen(function* () {
        if (change._tag === "Set") return change.members
        const last = lastCommitted()
        const refuse = (reason: RequestRefused["reason"], member?: BaseboardId) =>
          new RequestRefused({ request, reason, member: member === undefined ? null : String(member) })
        if (last === undefined) return yield* refuse("NoCommittedConfiguration")
        const current = last.members.map((m) => m.id)
        const isMember = (id: BaseboardId) => current.some((m) => BaseboardIdModule.equals(m, id))
        if (change._tag === "Rotate") return current
        if (change._tag === "Add") {
          if (isMember(change.id)) return yield* refuse("AlreadyAMember", change.id)
          return [...current, change.id]
        }
        if (!isMember(change.id)) return yield* refuse("NotAMember", change.id)
        if (current.length - 1 < minimumMembers) return yield* refuse("TooFewMembers", change.id)
        return current.filter((m) => !BaseboardIdModule.equals(m, change.id))
      })

    const submit = (change: MembershipChange, request: string) =>
      Effect.gen(function* () {
        while (true) {
          yield* reload.pipe(Effect.catch(() => rereadAfterOutage))
          // Already accepted: an earlier attempt's proposal landed though its answer was lost (a connection that
          // dropped around the COMMIT), or the request was submitted twice. One request, one proposal.
          const accepted = view.configs.filter((c) => c.request === request).at(-1)
          if (accepted !== undefined) return accepted
          const current = inProgress()
          if (current !== undefined) {
            // The request waits for the epoch in progress; helping to drive it is all this replica can do.
            const driven = yield* Effect.result(drive(current))
            if (driven._tag === "Failure") {
              yield* emit({ _tag: "Retrying", epoch: current.epoch, id: "driver", reason: driven.failure.message })
              yield* Effect.sleep(options.pollInterval)
            }
            continue
          }
          const plan = yield* planFor(yield* targetOf(change, request), request)
          const outcome = yield* Effect.result(store.propose(rackId, plan))
          if (outcome._tag === "Success") {
            yield* proposed(plan)
            return plan
          }
          if (outcome.failure._tag === "StaleView") {
            yield* emit({ _tag: "Conflict", epoch: plan.epoch, step: "propose" })
          } else {
            yield* emit({ _tag: "Retrying", epoch: plan.epoch, id: "store", reason: outcome.failure.message })
            yield* Effect.sleep(options.pollInterval)
          }
        }
      })

    const deadline = <A, E>(effect: Effect.Effect<A, E | ReconfigurationFailed>) =>
      effect.pipe(
        Effect.timeoutOrElse({
          duration: options.deadline,
          orElse: () => Effect.fail(fail(latest(), "the deadline passed; call resume to continue"))
        })
      )

    /** One pass of the replica loop: drive the latest unfinished configuration, if any, or wait a poll interval. */
    const pass = Effect.gen(function* () {
      const loaded = yield* Effect.result(reload)
      const current = loaded._tag === "Success" ? inProgress() : undefined
      if (current === undefined) return yield* Effect.sleep(options.pollInterval)
      const driven = yield* Effect.result(drive(current))
      if (driven._tag === "Failure") {
        yield* emit({ _tag: "Retrying", epoch: current.epoch, id: "driver", reason: driven.failure.message })
        yield* Effect.sleep(options.pollInterval)
      }
    })

    const reconfigurator: Reconfigurator = {
      reconfigure: (members) =>
        deadline(
          Effect.gen(function* () {
            const plan = yield* submit({ _tag: "Set", members }, yield* newRequestId).pipe(
              Effect.catchTag("RequestRefused", (e) => Effect.fail(fail(undefined, e.message)))
            )
            return yield* drive(plan)
          })
        ),
      submit,
      complete: drive,
      resume: deadline(
        Effect.gen(function* () {
          yield* reload.pipe(Effect.mapError(storeFailed))
          const current = inProgress()
          return current === undefined ? Option.none() : Option.some(yield* drive(current))
        })
      ),
      run: Effect.forever(pass),
      state: reload.pipe(Effect.mapError(storeFailed)),
      events: Stream.fromPubSub(pubsub)
    }
    return reconfigurator
  })
