import { Console, Context, Effect, Layer, Option, Schema, Stdio, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import * as ControlPlaneStore from "../control/ControlPlaneStore.ts"
import * as MemberClient from "../control/MemberClient.ts"
import * as Reconfigurator from "../control/Reconfigurator.ts"
import { SigningKey } from "../crypto/AuthorityKey.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import { ConfigError, readKey } from "./NodeConfig.ts"

/** A flag or argument value that does not mean what its name says. */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  name: Schema.String,
  value: Schema.String,
  expected: Schema.String
}) {
  override get message(): string {
    return `${this.name} ${JSON.stringify(this.value)}: expected ${this.expected}`
  }
}

/** A BaseboardId from its `part:serial` form, given as `name` (a flag, a config key); anything else is refused. */
export const parseId = (name: string) => (s: string) =>
  Effect.fromNullishOr(BaseboardId.fromString(s)).pipe(
    Effect.mapError(() => new InvalidArgument({ name, value: s, expected: "a BaseboardId as part:serial" }))
  )

/** `part:serial=URL`: a member and its node API. */
export const parseMember = (s: string) => {
  const i = s.indexOf("=")
  const url = s.slice(i + 1)
  return i < 0 || !URL.canParse(url)
    ? Effect.fail(new InvalidArgument({ name: "--member", value: s, expected: "part:serial=URL" }))
    : Effect.map(parseId("--member")(s.slice(0, i)), (id) => ({ id, url }))
}

/** Prints one JSON line (machine-readable progress for scripts, replicas and the example). */
export const emit = (event: Record<string, unknown>) => Console.log(JSON.stringify(event))

/** `--authority-key FILE`: the control plane's private key, which signs every decision. */
export const authorityKeyFlag = Flag.String("authority-key").pipe(
  Flag.withDescription("the control plane's authority private key (authority.key from `tq certs init`)")
)

/** The members with an API, from repeated `--member part:serial=URL`. */
export const parseMembers = (flags: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const clients = new Map<string, MemberClient.MemberClient>()
    const ids: Array<BaseboardId.BaseboardId> = []
    for (const { id, url } of yield* Effect.forEach(flags, parseMember)) {
      ids.push(id)
      clients.set(id.key, yield* MemberClient.fromHttp(url))
    }
    return { ids, clientOf: (id: BaseboardId.BaseboardId) => Option.fromNullishOr(clients.get(id.key)) }
  })

/** `--state FILE` or `--store postgres://…`: exactly one. */
export const storeFlags = {
  state: Flag.String("state").pipe(
    Flag.withDescription("the driver's progress file, for a single driver (created if missing)"),
    Flag.optional
  ),
  store: Flag.String("store").pipe(
    Flag.withDescription("a PostgreSQL URL (postgres://user@host:port/db) shared by control-plane replicas"),
    Flag.optional
  )
}

/** Opens the store the flags name, in the current scope (PostgreSQL: a pool, migrations run first). */
export const openStore = (flags: { readonly state: Option.Option<string>; readonly store: Option.Option<string> }) =>
  Effect.gen(function* () {
    if (Option.isSome(flags.state) === Option.isSome(flags.store)) {
      return yield* new ConfigError({
        path: "--state/--store",
        issue: "give exactly one of --state FILE or --store URL"
      })
    }
    const layer = Option.isSome(flags.store)
      ? ControlPlaneStore.ControlPlaneStore.layerPostgres(flags.store.value)
      : ControlPlaneStore.ControlPlaneStore.layerFile([Option.getOrElse(flags.state, () => "")])
    return Context.get(yield* Layer.build(layer), ControlPlaneStore.ControlPlaneStore)
  })

/**
 * One request on standard input. The request id is stored with the proposal it leads to, so it is bounded
 * (the driver's own ids are 16 hex digits); so is the member, a `part:serial` id.
 */
export const RequestLine = Schema.fromJsonString(
  Schema.Struct({
    request: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(128)),
    change: Schema.Literals(["add", "remove", "rotate"]),
    member: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(256)))
  })
)

/**
 * Requests handled at once; beyond them, standard input is not read until one is answered (its writer waits),
 * so a burst of lines costs a bounded number of fibers. Requests of one rack are serialized by the store anyway.
 */
const concurrentRequests = 64
const decodeRequest = Schema.decodeUnknownEffect(RequestLine)

/** One request line: accepted (the store holds its proposal) or refused, answered on standard output. */
const handleRequest = (driver: Reconfigurator.Reconfigurator) => (line: string) =>
  decodeRequest(line).pipe(
    Effect.matchEffect({
      onFailure: (e) => emit({ event: "refused", request: null, reason: "BadRequest", message: e.message }),
      onSuccess: (request) =>
        Effect.gen(function* () {
          const member = request.change === "rotate" ? undefined : yield* parseId("member")(request.member ?? "")
          const change: Reconfigurator.MembershipChange =
            member === undefined
              ? { _tag: "Rotate" }
              : request.change === "add"
                ? { _tag: "Add", id: member }
                : { _tag: "Remove", id: member }
          const plan = yield* driver.submit(change, request.request)
          yield* emit({ event: "accepted", request: request.request, epoch: plan.epoch })
        }).pipe(
          Effect.catch((e) =>
            emit({
              event: "refused",
              request: request.request,
              reason: e._tag === "RequestRefused" ? e.reason : e._tag,
              message: e.message
            })
          ),
          // A bug must not leave the request unanswered: say so, with the defect.
          Effect.catchDefect((defect) =>
            emit({ event: "refused", request: request.request, reason: "Defect", message: String(defect) })
          )
        )
    })
  )

export const controlPlane = Command.make(
  "control-plane",
  {
    ...storeFlags,
    authorityKey: authorityKeyFlag,
    rackId: Flag.String("rack-id").pipe(Flag.withDescription("the rack id (UUID)")),
    member: Flag.String("member").pipe(
      Flag.withDescription("a node with an API, as part:serial=URL (repeat)"),
      Flag.atLeast(1)
    ),
    pollMs: Flag.Int("poll-ms").pipe(
      Flag.withDescription("how often nodes are polled, and the store when idle"),
      Flag.withDefault(50)
    ),
    coordinatorTimeoutMs: Flag.Int("coordinator-timeout-ms").pipe(
      Flag.withDescription("a coordinator silent this long is abandoned: the epoch is aborted and proposed again"),
      Flag.withDefault(5000)
    )
  },
  Effect.fn(function* ({ state, store, authorityKey, rackId, member, pollMs, coordinatorTimeoutMs }) {
    const authority = yield* readKey(authorityKey, "--authority-key", SigningKey.fromPem)
    const { clientOf } = yield* parseMembers(member)
    const driver = yield* Reconfigurator.make({
      rackId,
      authority,
      store: yield* openStore({ state, store }),
      clientOf,
      options: { pollInterval: `${pollMs} millis`, coordinatorTimeout: `${coordinatorTimeoutMs} millis` }
    })
    yield* Effect.forkScoped(
      Stream.runForEach(driver.events, (e) => emit({ event: "progress", ...e })),
      {
        startImmediately: true
      }
    )
    yield* emit({ event: "replica-ready", rackId })
    const stdio = yield* Stdio.Stdio
    const requests = stdio.stdin.pipe(
      Stream.decodeText,
      Stream.splitLines,
      Stream.filter((line) => line.trim() !== ""),
      Stream.mapEffect(handleRequest(driver), { concurrency: concurrentRequests, unordered: true }),
      Stream.runDrain,
      Effect.orElseSucceed(() => undefined),
      // Standard input closed: keep driving until interrupted.
      Effect.andThen(Effect.never)
    )
    // The loop never ends; if it dies (a bug), the replica exits instead of running on without driving.
    return yield* Effect.raceFirst(driver.run, requests)
  }, Effect.scoped)
).pipe(
  Command.withDescription(
    "Run a control-plane replica: drive the rack's unfinished configuration and accept requests as JSON lines on stdin"
  )
)
