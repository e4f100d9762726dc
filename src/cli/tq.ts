#!/usr/bin/env node
/**
 * `tq`: the command line of effect-trust-quorum. Run a node (`tq node run --config FILE`) and print its
 * configuration's JSON Schema (`tq node config-schema`); read a node's status directly or through a
 * member's proxy (`tq status`); drive the rack with the control-plane driver (`tq add-sled`,
 * `remove-sled`, `rotate`, `resume`) and check that every member unlocks the same secret
 * (`tq unlock-check`); make a rack PKI and certificates for new sleds (`tq certs init` / `issue`); read or
 * replace a node's network config (`tq network-config get|set`, set signs it with the authority key); replay
 * a simulation event log (`tq replay FILE`). Results go to stdout, logs to stderr; every failure prints
 * `Tag: message` and exits non-zero (see `Main.ts`) — including a running node that stops (a ledger it
 * cannot write, a defect), so that a supervisor restarts it.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { Console, Duration, Effect, Layer, Option, References, Schedule, Schema, Stream, SubscriptionRef } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { NodeApi } from "../api/NodeApi.ts"
import * as NodeApiServer from "../api/NodeApiServer.ts"
import * as MemberClient from "../control/MemberClient.ts"
import * as Reconfigurator from "../control/Reconfigurator.ts"
import { PublicKey, SigningKey } from "../crypto/AuthorityKey.ts"
import * as Ledger from "../runtime/Ledger.ts"
import * as RackPki from "../runtime/RackPki.ts"
import * as Transport from "../runtime/Transport.ts"
import * as TrustQuorumNode from "../runtime/TrustQuorumNode.ts"
import * as EventLog from "../testing/EventLog.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import * as Decision from "../types/Decision.ts"
import { Generation, NetworkConfig, summary as networkConfigSummary } from "../types/NetworkConfig.ts"
import * as PersistentState from "../types/PersistentState.ts"
import { RackId } from "../types/RackId.ts"
import {
  authorityKeyFlag,
  controlPlane,
  emit,
  InvalidArgument,
  openStore,
  parseId,
  parseMember,
  storeFlags
} from "./ControlPlaneCommand.ts"
import * as Main from "./Main.ts"
import * as NodeConfig from "./NodeConfig.ts"

/** The members do not all unlock the same, latest secret. */
export class UnlockCheckFailed extends Schema.TaggedError<UnlockCheckFailed>()("UnlockCheckFailed", {
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `the rack does not unlock consistently: ${this.problems.join("; ")}`
  }
}

/** Runs the node a configuration describes until interrupted; fails with `NodeStopped` if the node stops. */
const serveNode = Effect.fn("serveNode")(
  function* (config: NodeConfig.NodeConfig) {
    const id = yield* parseId("id")(config.id)
    const transport = config.tls ? Transport.tls(yield* NodeConfig.readTls(config.tls)) : Transport.insecureTcp
    const authority = yield* NodeConfig.readKey(config.authority, "authority", PublicKey.fromPem)
    const node = yield* TrustQuorumNode.make({
      id,
      authority,
      listen: config.peer,
      ...(config.advertise === undefined ? {} : { advertise: config.advertise }),
      transport,
      ledger: Ledger.file({
        paths: config.ledger,
        schema: PersistentState.PersistentState,
        owner: { node: String(id), rackOf: PersistentState.rackId }
      }),
      networkConfigLedger: Ledger.file({
        paths: NodeConfig.networkConfigLedgerPaths(config),
        schema: NetworkConfig,
        owner: { node: String(id), rackOf: (c) => c.rackId }
      }),
      ...(config.link === undefined
        ? {}
        : {
            link: {
              pingInterval: Duration.millis(config.link.pingIntervalMs),
              inactivityTimeout: Duration.millis(config.link.inactivityTimeoutMs)
            }
          }),
      ...(config.handshake === undefined
        ? {}
        : {
            connections: {
              maxUnauthenticated: config.handshake.maxUnauthenticated,
              handshakeTimeout: Duration.millis(config.handshake.timeoutMs)
            }
          }),
      ...config.limits
    })
    // The node stopping ends the command with its reason, whatever the command is waiting for.
    const stopped = Effect.flatMap(node.stopped, Effect.fail)
    yield* node.setPeers(config.peers)
    yield* emit({ event: "peer-listening", id: config.id, port: node.listenAddress.port })
    if (config.apiAfterCommit === true) {
      // A new sled: no API until it has committed a configuration (reached through a member's proxy until then).
      yield* node.committedEpoch.pipe(
        SubscriptionRef.changes,
        Stream.filter(Option.isSome),
        Stream.runHead,
        Effect.raceFirst(stopped)
      )
    }
    const { tls: apiTls, maxBodyBytes, proxyTimeoutMs, ...address } = config.api
    const apiPem =
      apiTls === undefined
        ? undefined
        : yield* Effect.all({
            certPem: NodeConfig.readFile(apiTls.cert, "api.tls.cert"),
            keyPem: NodeConfig.readFile(apiTls.key, "api.tls.key"),
            ...(apiTls.ca === undefined ? {} : { caPem: NodeConfig.readFile(apiTls.ca, "api.tls.ca") })
          })
    const api = yield* Layer.build(
      NodeApiServer.layer({
        ...address,
        ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
        ...(proxyTimeoutMs === undefined ? {} : { proxyTimeout: Duration.millis(proxyTimeoutMs) }),
        ...(apiPem === undefined ? {} : { tls: apiPem })
      }).pipe(Layer.provide(Layer.succeed(TrustQuorumNode.TrustQuorumNode, node)))
    )
    const url = yield* NodeApiServer.baseUrl(apiTls === undefined ? "http" : "https").pipe(Effect.provide(api))
    yield* emit({ event: "api-listening", id: config.id, url })
    return yield* stopped
  },
  Effect.scoped,
  (effect, config) =>
    Effect.flatMap(Main.logLevelOr(config.logLevel ?? "Info"), (level) =>
      Effect.provideService(effect, References.MinimumLogLevel, level)
    )
)

/**
 * Traces (the node's run, API calls, ledger writes, proxied requests) go to an OTLP/HTTP collector when the
 * config names one; the exporter flushes when the node stops.
 */
const withTracing =
  (config: NodeConfig.NodeConfig) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    config.otlp === undefined
      ? effect
      : Effect.provide(
          effect,
          OtlpTracer.layer({
            url: new URL("/v1/traces", config.otlp.url).href,
            resource: { serviceName: config.otlp.serviceName ?? "tq-node", attributes: { "tq.node": config.id } },
            exportInterval: "1 second"
          }).pipe(Layer.provide([OtlpSerialization.layerJson, FetchHttpClient.layer]))
        )

const runNode = Command.make(
  "run",
  { config: Flag.String("config").pipe(Flag.withDescription("the node's JSON configuration file")) },
  ({ config }) => Effect.flatMap(NodeConfig.load(config), (c) => serveNode(c).pipe(withTracing(c)))
).pipe(Command.withDescription("Run a node: its peer port, its ledger and its HTTP API"))

const configSchema = Command.make("config-schema", {}, () =>
  Console.log(JSON.stringify(NodeConfig.jsonSchema(), null, 2))
).pipe(Command.withDescription("Print the JSON Schema of the node configuration file"))

const node = Command.make("node").pipe(
  Command.withDescription("Operate a node"),
  Command.withSubcommands([runNode, configSchema])
)

const status = Command.make(
  "status",
  {
    api: Flag.String("api").pipe(Flag.withDescription("the base URL of a node's API")),
    via: Flag.String("via").pipe(
      Flag.withDescription("read the status of this node (part:serial) through the API node's proxy"),
      Flag.optional
    )
  },
  Effect.fn(function* ({ api, via }) {
    const client = yield* HttpApiClient.make(NodeApi, { baseUrl: api })
    const result = Option.isSome(via)
      ? yield* client.proxyStatus({ payload: { destination: yield* parseId("--via")(via.value) } })
      : yield* client.status()
    yield* Console.log(JSON.stringify(result, null, 2))
  }, Effect.provide(FetchHttpClient.layer))
).pipe(Command.withDescription("Print a node's status, directly or through a member's proxy"))

// ---- the control-plane driver --------------------------------------------------------------------------

const memberFlag = Flag.String("member").pipe(
  Flag.withDescription("a node with an API, as part:serial=URL (repeat)"),
  Flag.atLeast(1)
)

/**
 * The flags every driver command takes: where its progress is kept (`--state FILE` or `--store URL`), the
 * key it signs decisions with, which rack, and how to reach the members.
 */
const driverFlags = {
  ...storeFlags,
  authorityKey: authorityKeyFlag,
  rackId: Flag.String("rack-id").pipe(Flag.withDescription("the rack id (a UUID)")),
  member: memberFlag
}

const sledFlag = (what: string) =>
  Flag.String("sled").pipe(Flag.withDescription(`the sled to ${what}, as part:serial (repeat)`), Flag.atLeast(1))

/**
 * A driver over the members' APIs, its progress events printed as JSON lines, and the members of the
 * rack as it stands: those of the last committed configuration, or the `--member`s before the first.
 */
const openDriver = Effect.fn("openDriver")(function* (flags: {
  readonly state: Option.Option<string>
  readonly store: Option.Option<string>
  readonly authorityKey: string
  readonly rackId: string
  readonly member: ReadonlyArray<string>
}) {
  const rackId = yield* Schema.decodeUnknownEffect(RackId)(flags.rackId).pipe(
    Effect.mapError(() => new InvalidArgument({ name: "--rack-id", value: flags.rackId, expected: "a UUID" }))
  )
  const authority = yield* NodeConfig.readKey(flags.authorityKey, "--authority-key", SigningKey.fromPem)
  const members = yield* Effect.forEach(flags.member, parseMember)
  const clients = new Map<string, MemberClient.MemberClient>()
  for (const { id, url } of members) clients.set(id.key, yield* MemberClient.fromHttp(url))
  const driver = yield* Reconfigurator.make({
    rackId,
    authority,
    store: yield* openStore(flags),
    clientOf: (id) => Option.fromNullishOr(clients.get(id.key))
  })
  yield* Effect.forkScoped(Stream.runForEach(driver.events, (e) => emit({ ...e })))
  const committed = (yield* driver.state).configs.filter((c) => c.phase === "Committed").at(-1)
  const current = committed?.members.map((m) => m.id) ?? members.map((m) => m.id)
  return { driver, current }
})

const printCommitted = (plan: Reconfigurator.PlannedConfig) =>
  Console.log(`epoch ${plan.epoch} committed: ${plan.members.map((m) => `${m.id} (${m.via})`).join(", ")}`)

const addSled = Command.make(
  "add-sled",
  { ...driverFlags, sled: sledFlag("add") },
  Effect.fn(function* (flags) {
    const added = yield* Effect.forEach(flags.sled, parseId("--sled"))
    const { driver, current } = yield* openDriver(flags)
    yield* printCommitted(yield* driver.reconfigure([...current, ...added]))
  }, Effect.scoped)
).pipe(Command.withDescription("Add sleds to the rack: a new epoch, committed directly or through a member's proxy"))

const removeSled = Command.make(
  "remove-sled",
  { ...driverFlags, sled: sledFlag("remove") },
  Effect.fn(function* (flags) {
    const removed = yield* Effect.forEach(flags.sled, parseId("--sled"))
    const { driver, current } = yield* openDriver(flags)
    const strangers = removed.filter((r) => !current.some((m) => BaseboardId.equals(m, r)))
    if (strangers.length > 0) {
      return yield* new InvalidArgument({
        name: "--sled",
        value: strangers.join(", "),
        expected: `a member of the rack (${current.join(", ")})`
      })
    }
    const remaining = current.filter((m) => !removed.some((r) => BaseboardId.equals(m, r)))
    yield* printCommitted(yield* driver.reconfigure(remaining))
  }, Effect.scoped)
).pipe(Command.withDescription("Remove sleds from the rack: a new epoch without them; they are expunged"))

const rotate = Command.make(
  "rotate",
  driverFlags,
  Effect.fn(function* (flags) {
    const { driver, current } = yield* openDriver(flags)
    yield* printCommitted(yield* driver.reconfigure(current))
  }, Effect.scoped)
).pipe(Command.withDescription("Rotate the rack secret: a new epoch with the same members"))

const resume = Command.make(
  "resume",
  driverFlags,
  Effect.fn(function* (flags) {
    const { driver } = yield* openDriver(flags)
    const finished = yield* driver.resume
    yield* Option.match(finished, {
      onNone: () => Console.log("nothing to resume: no configuration is in progress"),
      onSome: printCommitted
    })
  }, Effect.scoped)
).pipe(Command.withDescription("Finish the configuration a driver command left in progress (after its deadline)"))

const unlockCheck = Command.make(
  "unlock-check",
  { member: memberFlag },
  Effect.fn(function* ({ member }) {
    const members = yield* Effect.forEach(member, parseMember)
    // Loading needs K members' shares, gathered over the peer network: poll until loaded or the deadline.
    const results = yield* Effect.forEach(
      members,
      ({ id, url }) =>
        HttpApiClient.make(NodeApi, { baseUrl: url }).pipe(
          Effect.flatMap((client) =>
            client
              .loadLatestRackSecret()
              .pipe(Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (s) => s._tag === "Loaded" }))
          ),
          Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.succeed({ _tag: "Pending" as const }) }),
          Effect.map((s) => (s._tag === "Loaded" ? `epoch ${s.epoch} ${s.fingerprint}` : "pending after 10 s")),
          Effect.catch((e) => Effect.succeed(`failed: ${Main.describe(e)}`)),
          Effect.tap((line) => Console.log(`${id}: ${line}`))
        ),
      { concurrency: "unbounded" }
    )
    const loaded = new Set(results.filter((r) => r.startsWith("epoch ")))
    const problems = [
      ...results.flatMap((r, i) => (r.startsWith("epoch ") ? [] : [`${members[i]?.id}: ${r}`])),
      ...(loaded.size > 1 ? [`members disagree: ${[...loaded].join(" / ")}`] : [])
    ]
    if (problems.length > 0) return yield* new UnlockCheckFailed({ problems })
    yield* Console.log(`all ${members.length} members unlock the same secret (${[...loaded].join("")})`)
  }, Effect.provide(FetchHttpClient.layer))
).pipe(
  Command.withDescription("Check that every member loads the latest rack secret, and the same one (fingerprints only)")
)

// ---- certificates --------------------------------------------------------------------------------------

const idFlag = Flag.String("id").pipe(Flag.withDescription("a node identity, part:serial (repeat)"), Flag.atLeast(1))

const certsInit = Command.make(
  "init",
  {
    dir: Argument.String("dir").pipe(Argument.withDescription("where to write ca.pem and one .pem/.key per node")),
    id: idFlag
  },
  Effect.fn(function* ({ dir, id }) {
    const { nodes } = yield* RackPki.writeRack(dir, id)
    yield* Console.log(
      `wrote a rack CA, ${nodes.length} node certificates and the control plane's authority key pair to ${dir} (keep ca.key and authority.key off the nodes)`
    )
  })
).pipe(Command.withDescription("Create a rack CA and node certificates (never overwrites existing files)"))

const certsIssue = Command.make(
  "issue",
  {
    dir: Argument.String("dir").pipe(Argument.withDescription("the directory holding the rack CA (ca.pem, ca.key)")),
    id: idFlag
  },
  Effect.fn(function* ({ dir, id }) {
    const nodes = yield* RackPki.writeNodes(dir, id)
    yield* Console.log(`issued ${nodes.length} node certificates with the rack CA in ${dir}`)
  })
).pipe(Command.withDescription("Issue certificates for new sleds with an existing rack CA"))

const certs = Command.make("certs").pipe(
  Command.withDescription("Rack PKI for mutual TLS"),
  Command.withSubcommands([certsInit, certsIssue])
)

// ---- simulations ---------------------------------------------------------------------------------------

/** The replayed case broke an invariant or its liveness phase. */
export class ReplayFailed extends Schema.TaggedError<ReplayFailed>()("ReplayFailed", {
  path: Schema.String,
  violation: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.violation}`
  }
}

const issueOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

export const replay = Command.make(
  "replay",
  { file: Argument.String("eventlog").pipe(Argument.withDescription("a simulation event log (.jsonl)")) },
  Effect.fn(function* ({ file }) {
    const text = yield* Main.readText(file)
    const c = yield* Effect.try({
      try: () => EventLog.decode(text),
      catch: (e) => new Main.UnreadableFile({ path: file, issue: `not a simulation event log: ${issueOf(e)}` })
    })
    yield* Effect.try({
      try: () => EventLog.replay(c, (line) => console.log(line)),
      catch: (e) => new ReplayFailed({ path: file, violation: Main.describe(e) })
    })
    yield* Console.log("the case passes every invariant and the liveness phase")
  })
).pipe(Command.withDescription("Re-run a simulation event log and print every node after each event"))

const networkConfigGet = Command.make(
  "get",
  {
    api: Flag.String("api").pipe(Flag.withDescription("the base URL of a node's API")),
    out: Flag.String("out").pipe(Flag.withDescription("write the blob to this file"), Flag.optional)
  },
  Effect.fn(function* ({ api, out }) {
    const client = yield* HttpApiClient.make(NodeApi, { baseUrl: api })
    const config = yield* client.networkConfig()
    if (Option.isSome(out)) writeFileSync(out.value, config.blob)
    yield* Console.log(
      JSON.stringify(
        {
          rackId: config.rackId,
          ...networkConfigSummary(config),
          ...(Option.isSome(out) ? { written: out.value } : { blob: Buffer.from(config.blob).toString("base64") })
        },
        null,
        2
      )
    )
  }, Effect.provide(FetchHttpClient.layer))
).pipe(Command.withDescription("Print the network config a node holds (the blob as base64, or written to --out)"))

const networkConfigSet = Command.make(
  "set",
  {
    api: Flag.String("api").pipe(Flag.withDescription("the base URL of a node's API")),
    authorityKey: authorityKeyFlag,
    rackId: Flag.String("rack-id").pipe(Flag.withDescription("the rack id (UUID)")),
    generation: Flag.Int("generation").pipe(Flag.withDescription("the new generation: above the one every node holds")),
    file: Flag.String("file").pipe(Flag.withDescription("the blob: any file, sent as is (at most 256 KiB)"))
  },
  Effect.fn(function* ({ api, authorityKey, rackId: rackIdText, generation: generationNumber, file }) {
    const rackId = yield* Schema.decodeUnknownEffect(RackId)(rackIdText).pipe(
      Effect.mapError(() => new InvalidArgument({ name: "--rack-id", value: rackIdText, expected: "a UUID" }))
    )
    const generation = yield* Schema.decodeUnknownEffect(Generation)(generationNumber).pipe(
      Effect.mapError(
        () =>
          new InvalidArgument({
            name: "--generation",
            value: String(generationNumber),
            expected: "an integer in 1..2^40"
          })
      )
    )
    const authority = yield* NodeConfig.readKey(authorityKey, "--authority-key", SigningKey.fromPem)
    const blob = yield* Effect.try({
      try: () => new Uint8Array(readFileSync(file)),
      catch: (e) => new Main.UnreadableFile({ path: file, issue: e instanceof Error ? e.message : String(e) })
    })
    const config = Decision.networkConfig(authority, { rackId, generation, blob })
    const client = yield* HttpApiClient.make(NodeApi, { baseUrl: api })
    yield* client.updateNetworkConfig({ payload: config })
    yield* Console.log(
      `network config generation ${generation} (${blob.length} bytes) stored; the node gossips it to every peer`
    )
  }, Effect.provide(FetchHttpClient.layer))
).pipe(Command.withDescription("Sign a network config with the authority key and store it at a node, which gossips it"))

const networkConfig = Command.make("network-config").pipe(
  Command.withDescription("The generation-numbered network config every node carries before the rack unlocks"),
  Command.withSubcommands([networkConfigGet, networkConfigSet])
)

const tq = Command.make("tq").pipe(
  Command.withDescription("effect-trust-quorum: run nodes, operate a rack, replay simulations"),
  Command.withSubcommands([
    node,
    status,
    addSled,
    removeSled,
    rotate,
    resume,
    unlockCheck,
    controlPlane,
    certs,
    networkConfig,
    replay
  ])
)

Main.run(tq, "0.1.0")
