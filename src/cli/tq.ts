#!/usr/bin/env node
/**
 * `tq`: the command line of effect-trust-quorum. Run a node (`tq node run --config FILE`), read a
 * node's status directly or through a member's proxy (`tq status --api URL [--via PART:SERIAL]`), add a
 * sled to a rack with the control-plane driver (`tq add-sled …`), create a throwaway rack PKI
 * (`tq certs init DIR --id …`) and replay a simulation event log (`tq replay FILE`). Errors print their
 * tag and a one-line explanation and exit non-zero.
 */
import { readFileSync } from "node:fs"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Option, References, Stream, SubscriptionRef } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { NodeApi } from "../api/NodeApi.ts"
import * as NodeApiServer from "../api/NodeApiServer.ts"
import * as MemberClient from "../control/MemberClient.ts"
import * as Reconfigurator from "../control/Reconfigurator.ts"
import * as Ledger from "../runtime/Ledger.ts"
import * as RackPki from "../runtime/RackPki.ts"
import * as Transport from "../runtime/Transport.ts"
import * as TrustQuorumNode from "../runtime/TrustQuorumNode.ts"
import * as EventLog from "../testing/EventLog.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import { PersistentState } from "../types/PersistentState.ts"
import * as NodeConfig from "./NodeConfig.ts"

const parseId = (s: string) =>
  Effect.fromNullishOr(BaseboardId.fromString(s)).pipe(
    Effect.mapError(() => new NodeConfig.ConfigError({ path: s, issue: "expected a BaseboardId as part:serial" }))
  )

/** Prints one JSON line (machine-readable progress for scripts and the example). */
const emit = (event: Record<string, unknown>) => Console.log(JSON.stringify(event))

/** Runs the node a configuration describes until interrupted. */
const serveNode = Effect.fn("serveNode")(
  function* (config: NodeConfig.NodeConfig) {
    const id = yield* parseId(config.id)
    const transport = config.tls
      ? Transport.tls({
          certPem: readFileSync(config.tls.cert, "utf8"),
          keyPem: readFileSync(config.tls.key, "utf8"),
          caPem: readFileSync(config.tls.ca, "utf8")
        })
      : Transport.tcp
    const node = yield* TrustQuorumNode.make({
      id,
      listen: config.peer,
      ...(config.advertise === undefined ? {} : { advertise: config.advertise }),
      transport,
      ledger: Ledger.file({ paths: config.ledger, schema: PersistentState }),
      ...(config.link === undefined
        ? {}
        : {
            link: {
              pingInterval: Duration.millis(config.link.pingIntervalMs),
              inactivityTimeout: Duration.millis(config.link.inactivityTimeoutMs)
            }
          })
    })
    yield* node.setPeers(config.peers)
    yield* emit({ event: "peer-listening", id: config.id, port: node.listenAddress.port })
    if (config.apiAfterCommit === true) {
      // A new sled: no API until it has committed a configuration (reached through a member's proxy until then).
      yield* node.committedEpoch.pipe(SubscriptionRef.changes, Stream.filter(Option.isSome), Stream.runHead)
    }
    const api = yield* Layer.build(
      NodeApiServer.layer(config.api).pipe(Layer.provide(Layer.succeed(TrustQuorumNode.TrustQuorumNode, node)))
    )
    const url = yield* NodeApiServer.baseUrl.pipe(Effect.provide(api))
    yield* emit({ event: "api-listening", id: config.id, url })
    return yield* Effect.never
  },
  Effect.scoped,
  (effect, config) => Effect.provideService(effect, References.MinimumLogLevel, config.logLevel ?? "Info")
)

const runNode = Command.make(
  "run",
  { config: Flag.String("config").pipe(Flag.withDescription("the node's JSON configuration file")) },
  ({ config }) => Effect.flatMap(NodeConfig.load(config), serveNode)
).pipe(Command.withDescription("Run a node: its peer port, its ledger and its HTTP API"))

const node = Command.make("node").pipe(Command.withDescription("Operate a node"), Command.withSubcommands([runNode]))

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
      ? yield* client.proxyStatus({ payload: { destination: yield* parseId(via.value) } })
      : yield* client.status()
    yield* Console.log(JSON.stringify(result, null, 2))
  }, Effect.provide(FetchHttpClient.layer))
).pipe(Command.withDescription("Print a node's status, directly or through a member's proxy"))

const addSled = Command.make(
  "add-sled",
  {
    state: Flag.String("state").pipe(Flag.withDescription("the driver's progress file (created if missing)")),
    rackId: Flag.String("rack-id").pipe(Flag.withDescription("the rack id (UUID)")),
    member: Flag.String("member").pipe(
      Flag.withDescription("a node with an API, as part:serial=URL (repeat)"),
      Flag.atLeast(1)
    ),
    sled: Flag.String("sled").pipe(Flag.withDescription("the sled to add, as part:serial (repeat)"), Flag.atLeast(1))
  },
  Effect.fn(function* ({ state, rackId, member, sled }) {
    const clients = new Map<string, MemberClient.MemberClient>()
    const ids: Array<BaseboardId.BaseboardId> = []
    for (const m of member) {
      const [idText = "", url = ""] = m.split("=")
      const id = yield* parseId(idText)
      ids.push(id)
      clients.set(id.key, yield* MemberClient.fromHttp(url))
    }
    const added = yield* Effect.forEach(sled, parseId)
    const driver = yield* Reconfigurator.make({
      rackId,
      store: Ledger.file({ paths: [state], schema: Reconfigurator.DriverState }),
      clientOf: (id) => Option.fromNullishOr(clients.get(id.key))
    })
    yield* Effect.forkScoped(Stream.runForEach(driver.events, (e) => emit({ ...e })))
    const current = (yield* driver.state).configs.filter((c) => c.phase === "Committed").at(-1)
    const members = [...(current?.members.map((m) => m.id) ?? ids), ...added]
    const plan = yield* driver.reconfigure(members)
    yield* Console.log(`epoch ${plan.epoch} committed: ${plan.members.map((m) => `${m.id} (${m.via})`).join(", ")}`)
  }, Effect.scoped)
).pipe(Command.withDescription("Add sleds to the rack: a new epoch, committed directly or through a member's proxy"))

const certsInit = Command.make(
  "init",
  {
    dir: Argument.String("dir").pipe(Argument.withDescription("where to write ca.pem and one .pem/.key per node")),
    id: Flag.String("id").pipe(Flag.withDescription("a node identity, part:serial (repeat)"), Flag.atLeast(1))
  },
  Effect.fn(function* ({ dir, id }) {
    const { nodes } = yield* RackPki.writeRack(dir, id)
    yield* Console.log(`wrote a rack CA and ${nodes.length} node certificates to ${dir}`)
  })
).pipe(Command.withDescription("Create a throwaway rack CA and node certificates"))

const certs = Command.make("certs").pipe(
  Command.withDescription("Rack PKI for mutual TLS"),
  Command.withSubcommands([certsInit])
)

const replay = Command.make(
  "replay",
  { file: Argument.String("eventlog").pipe(Argument.withDescription("a simulation event log (.jsonl)")) },
  Effect.fn(function* ({ file }) {
    const text = readFileSync(file, "utf8")
    yield* Effect.try({
      try: () => EventLog.replay(EventLog.decode(text), (line) => console.log(line)),
      catch: (e) => new NodeConfig.ConfigError({ path: file, issue: e instanceof Error ? e.message : String(e) })
    })
    yield* Console.log("the case passes every invariant and the liveness phase")
  })
).pipe(Command.withDescription("Re-run a simulation event log and print every node after each event"))

const tq = Command.make("tq").pipe(
  Command.withDescription("effect-trust-quorum: run nodes, operate a rack, replay simulations"),
  Command.withSubcommands([node, status, addSled, certs, replay])
)

const program = tq.pipe(Command.run({ version: "0.1.0" }), Effect.provide(NodeServices.layer))

const report = (error: unknown) =>
  Console.error(
    typeof error === "object" && error !== null && "_tag" in error
      ? `${String(error._tag)}: ${error instanceof Error ? error.message : ""}`
      : String(error)
  )

NodeRuntime.runMain(program.pipe(Effect.tapError(report)), { disableErrorReporting: true })
