import { X509Certificate } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Redacted, Schema } from "effect"
import * as fc from "fast-check"
import * as NodeConfig from "../../src/cli/NodeConfig.ts"
import * as ControlPlaneStore from "../../src/control/ControlPlaneStore.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import { testCase } from "../../src/testing/Action.ts"
import * as EventLog from "../../src/testing/EventLog.ts"
import * as PgCluster from "../../src/testing/PgCluster.ts"
import * as ProcessRack from "../../src/testing/ProcessRack.ts"
import * as Decision from "../../src/types/Decision.ts"
import { ReconfigureMsg } from "../../src/types/Request.ts"
import { call } from "../api/http.ts"
import { runScript } from "../examples/script.ts"
import { receiver } from "../runtime/otlpReceiver.ts"
import { authority, eventually, rackId, sled } from "../runtime/rack.ts"
import { tempDir } from "../runtime/tempDir.ts"
import { apiRack, tq } from "./cliRack.ts"

/** A node config in `dir` (plain TCP, one ledger copy, free ports), with `extra` keys merged in. */
const writeConfig = (dir: string, extra: Record<string, unknown> = {}) => {
  const path = join(dir, "node.json")
  writeFileSync(join(dir, "authority.pub"), authority.publicKey.toPem())
  const config = {
    id: "913-0000019:1",
    insecure: true,
    authority: join(dir, "authority.pub"),
    peer: { host: "127.0.0.1", port: 0 },
    api: { host: "127.0.0.1", port: 0 },
    ledger: [join(dir, "ledger.json")],
    peers: [],
    ...extra
  }
  writeFileSync(path, JSON.stringify(config))
  return path
}

const insecureWarning =
  "the peer network runs on plain TCP (Transport.insecureTcp): any process that can connect may claim any identity; use mutual TLS outside tests"

/** A TCP port that something else holds for the test's scope. */
const takenPort = Effect.acquireRelease(
  Effect.callback<ReturnType<typeof createServer>>((resume) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(
  Effect.map((server) => {
    const address = server.address()
    return typeof address === "object" && address !== null ? address.port : 0
  })
)

describe("tq", () => {
  it.live("--help lists every command", () =>
    Effect.gen(function* () {
      const { code, stdout } = yield* tq("--help")
      assert.strictEqual(code, 0)
      for (const c of [
        "node",
        "status",
        "add-sled",
        "remove-sled",
        "rotate",
        "resume",
        "unlock-check",
        "control-plane",
        "certs",
        "replay",
        "--log-format"
      ]) {
        assert.include(stdout, c)
      }
      const nodeHelp = yield* tq("node", "run", "--help")
      assert.include(nodeHelp.stdout, "--config")
    })
  )

  it.live("an unknown flag is refused with a suggestion and a non-zero exit", () =>
    Effect.gen(function* () {
      const { code, output } = yield* tq("node", "run", "--confg", "x.json")
      assert.strictEqual(code, 1)
      assert.include(output, "Unrecognized flag: --confg in command tq node run")
      assert.include(output, "--config")
    })
  )
})

describe("tq certs", () => {
  it.live("init writes a rack CA and one certificate and key per node", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-certs")
      const { code } = yield* tq("certs", "init", dir, "--id", "913:1", "--id", "913:2")
      assert.strictEqual(code, 0)
      assert.deepStrictEqual(readdirSync(dir).sort(), [
        "913_1.key",
        "913_1.pem",
        "913_2.key",
        "913_2.pem",
        "authority.key",
        "authority.pub",
        "ca.key",
        "ca.pem"
      ])
    })
  )

  it.live("init refuses to overwrite an existing rack CA and leaves it as it was", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-certs")
      yield* tq("certs", "init", dir, "--id", "913:1")
      const caKey = readFileSync(join(dir, "ca.key"), "utf8")
      const { code, stderr } = yield* tq("certs", "init", dir, "--id", "913:9")
      assert.strictEqual(code, 1)
      assert.strictEqual(
        stderr,
        `PkiError: ${join(dir, "ca.pem")} already exists; rack credentials are never overwritten: move it away or use another directory\n`
      )
      assert.strictEqual(readFileSync(join(dir, "ca.key"), "utf8"), caKey)
      assert.deepStrictEqual(readdirSync(dir).sort(), [
        "913_1.key",
        "913_1.pem",
        "authority.key",
        "authority.pub",
        "ca.key",
        "ca.pem"
      ])
    })
  )

  it.live("issue signs a new sled's certificate with the existing CA, and never overwrites one", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-certs")
      yield* tq("certs", "init", dir, "--id", "913:1")
      const issued = yield* tq("certs", "issue", dir, "--id", "913:5")
      assert.strictEqual(issued.code, 0, issued.output)
      assert.strictEqual(issued.stdout, `issued 1 node certificates with the rack CA in ${dir}\n`)
      const ca = new X509Certificate(readFileSync(join(dir, "ca.pem")))
      const cert = new X509Certificate(readFileSync(join(dir, "913_5.pem")))
      assert.isTrue(cert.verify(ca.publicKey))
      const creds = yield* RackPki.readNodeCredentials(dir, "913:5")
      assert.strictEqual(creds.identity, "913:5")
      const again = yield* tq("certs", "issue", dir, "--id", "913:5")
      assert.strictEqual(again.code, 1)
      assert.match(again.stderr, /^PkiError: .*913_5\.pem already exists/)
    })
  )

  it.live("issue without a rack CA says so", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-certs")
      const { code, stderr } = yield* tq("certs", "issue", dir, "--id", "913:5")
      assert.strictEqual(code, 1)
      assert.match(stderr, /^PkiError: could not read or write rack credentials: reading the rack CA in .*ENOENT/)
    })
  )
})

describe("tq node", () => {
  it.live("a missing config file fails with its tag and a one-line explanation", () =>
    Effect.gen(function* () {
      const { code, stderr } = yield* tq("node", "run", "--config", "/nonexistent/config.json")
      assert.strictEqual(code, 1)
      assert.strictEqual(
        stderr,
        "ConfigError: config /nonexistent/config.json: cannot read the file: ENOENT: no such file or directory, open '/nonexistent/config.json'\n"
      )
    })
  )

  it.live("an unknown config key is an error, not ignored", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-node")
      const path = writeConfig(dir, { logLevl: "Debug" })
      const { code, stderr } = yield* tq("node", "run", "--config", path)
      assert.strictEqual(code, 1)
      assert.strictEqual(stderr, `ConfigError: config ${path}: Expected no excess property at ["logLevl"]\n`)
    })
  )

  it.live("TLS files that do not exist are named in the error", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-node")
      const path = writeConfig(dir, {
        tls: { cert: join(dir, "no.pem"), key: join(dir, "no.key"), ca: "/nope/ca.pem" }
      })
      const { code, stderr } = yield* tq("node", "run", "--config", path)
      assert.strictEqual(code, 1)
      assert.strictEqual(
        stderr,
        `ConfigError: config ${join(dir, "no.pem")}: cannot read tls.cert: ENOENT: no such file or directory, open '${join(dir, "no.pem")}'\n`
      )
    })
  )

  it.live("an API port already taken fails with the reason, not an empty ServeError", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-node")
      const port = yield* takenPort
      const path = writeConfig(dir, { api: { host: "127.0.0.1", port } })
      const { code, stderr } = yield* tq("node", "run", "--config", path)
      assert.strictEqual(code, 1)
      // The last line; before it, the node warns that its peer network is plain TCP.
      assert.strictEqual(
        stderr.trim().split("\n").at(-1),
        `ServeError: Error: listen EADDRINUSE: address already in use 127.0.0.1:${port}`
      )
    })
  )

  it.live("logs go to stderr (JSON with --log-format json); the config's level name is case-insensitive", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-node")
      const path = writeConfig(dir, { logLevel: "info" })
      const { stdout, stderr } = yield* runScript(
        ["src/cli/tq.ts", "node", "run", "--config", path, "--log-format", "json"],
        { interruptWhen: /api-listening/ }
      ).pipe(Effect.timeout("30 seconds"))
      const events = stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).event)
      assert.deepStrictEqual(events, ["peer-listening", "api-listening"])
      const logs = stderr
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
      assert.deepStrictEqual(
        logs.map((l) => [l.level, String(l.message)]),
        [
          ["WARN", insecureWarning],
          ["INFO", `Listening on ${JSON.parse(stdout.trim().split("\n")[1] ?? "{}").url}`]
        ]
      )
    })
  )

  it.live("--log-level wins over the config's logLevel", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-node")
      const path = writeConfig(dir, { logLevel: "DEBUG" })
      const { stdout, stderr } = yield* runScript(
        ["src/cli/tq.ts", "--log-level", "ERROR", "node", "run", "--config", path],
        { interruptWhen: /api-listening/ }
      ).pipe(Effect.timeout("30 seconds"))
      assert.include(stdout, "api-listening")
      assert.strictEqual(stderr, "")
    })
  )

  it.live("with otlp configured, the node's spans reach a real OTLP/HTTP collector, flushed when it stops", () =>
    Effect.gen(function* () {
      const { url, spans } = yield* receiver
      const dir = yield* tempDir("tq-node")
      const path = writeConfig(dir, { otlp: { url } })
      const { stdout } = yield* runScript(["src/cli/tq.ts", "node", "run", "--config", path], {
        interruptWhen: /api-listening/
      }).pipe(Effect.timeout("30 seconds"))
      assert.include(stdout, "api-listening")
      assert.deepStrictEqual(spans.find((s) => s.name === "serveNode")?.service, { stringValue: "tq-node" })
    })
  )

  it.live("config-schema prints the JSON Schema of the config, generated from its Schema", () =>
    Effect.gen(function* () {
      const { code, stdout } = yield* tq("node", "config-schema")
      assert.strictEqual(code, 0)
      const schema = JSON.parse(stdout)
      assert.deepStrictEqual(schema, NodeConfig.jsonSchema())
      assert.strictEqual(schema.$schema, "https://json-schema.org/draft/2020-12/schema")
      assert.strictEqual(schema.additionalProperties, false)
      assert.deepStrictEqual([...schema.required].sort(), ["api", "authority", "id", "ledger", "peer", "peers"])
    })
  )

  it.effect("the sample config in examples/ decodes", () =>
    Effect.gen(function* () {
      const config = yield* NodeConfig.load("examples/node-config.json")
      assert.strictEqual(config.id, "913-0000019:BRM42220001")
      assert.strictEqual(config.logLevel, "Info")
      const broken = yield* Effect.exit(NodeConfig.load("README.md"))
      assert.isTrue(Exit.isFailure(broken))
    })
  )

  it.live("admission limits outside their bounds are refused, naming the key", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-limits-config")
      for (const limits of [{ maxInFlightProxied: 0 }, { maxInFlightProxied: 65_537 }, { maxPendingApi: 1025 }]) {
        const refused = yield* Effect.flip(NodeConfig.load(writeConfig(dir, { limits })))
        assert.strictEqual(refused._tag, "ConfigError")
        assert.include(refused.issue, `["limits"]["${Object.keys(limits)[0]}"]`)
      }
      const accepted = yield* NodeConfig.load(
        writeConfig(dir, { limits: { maxPendingApi: 1024, maxInFlightProxied: 65_536 } })
      )
      assert.deepStrictEqual(accepted.limits, { maxPendingApi: 1024, maxInFlightProxied: 65_536 })
    })
  )
})

describe("tq replay and the scripts", () => {
  it.live("replay re-runs a simulation event log and prints each event", () =>
    Effect.gen(function* () {
      const [c] = fc.sample(testCase(20, 30), { seed: 3, numRuns: 1 })
      if (c === undefined) throw new Error("no case")
      const dir = yield* tempDir("tq-replay")
      const path = EventLog.write(c, dir)
      const { code, output } = yield* tq("replay", path)
      assert.strictEqual(code, 0, output)
      assert.include(output, "#0 ")
      assert.include(output, "the case passes every invariant and the liveness phase")
    })
  )

  it.live("replay of a missing file says so (tq and npm run replay alike)", () =>
    Effect.gen(function* () {
      const { code, stderr } = yield* tq("replay", "/nope.jsonl")
      assert.strictEqual(code, 1)
      assert.strictEqual(stderr, "UnreadableFile: /nope.jsonl: ENOENT: no such file or directory, open '/nope.jsonl'\n")
    })
  )

  it.live("sim, chaos and bench take --help and refuse unknown flags and bad values before running anything", () =>
    Effect.gen(function* () {
      const help = yield* runScript(["src/cli/sim.ts", "--help"])
      assert.strictEqual(help.code, 0)
      for (const flag of ["--cases", "--seed", "--min", "--max"]) assert.include(help.stdout, flag)
      for (const script of ["src/cli/sim.ts", "src/cli/chaos.ts", "bench/run.ts"]) {
        const wrong = yield* runScript([script, "--casess", "5"])
        assert.strictEqual(wrong.code, 1, script)
        assert.include(wrong.output, "Unrecognized flag: --casess", script)
      }
      const noRounds = yield* runScript(["bench/run.ts", "proxy", "--rounds", "0"])
      assert.strictEqual(noRounds.code, 1)
      assert.include(noRounds.output, "--rounds 0: give 1 to 1000 rounds")
    })
  )

  it.live("sim prints one JSON line of figures with the acknowledgements lost measured", () =>
    Effect.gen(function* () {
      const { code, stdout } = yield* runScript([
        "src/cli/sim.ts",
        "--cases",
        "3",
        "--seed",
        "7",
        "--min",
        "20",
        "--max",
        "40"
      ])
      assert.strictEqual(code, 0)
      const figures = JSON.parse(stdout)
      assert.strictEqual(figures.cases, 3)
      assert.strictEqual(figures.seed, 7)
      assert.strictEqual(figures.lost, 0)
      assert.strictEqual(figures.failed, 0)
    })
  )
})

describe("tq add-sled", () => {
  it.live(
    "--store postgres://… keeps the driver's decisions in PostgreSQL; --state and --store together are refused",
    () =>
      Effect.gen(function* () {
        const { nodes, members } = yield* apiRack
        const cluster = yield* PgCluster.make
        const run = (...store: ReadonlyArray<string>) =>
          tq("add-sled", ...store, "--rack-id", rackId, ...members, "--sled", String(sled(4)))
        const both = yield* run("--state", "/nonexistent/cp.json", "--store", cluster.url)
        assert.notStrictEqual(both.code, 0)
        assert.include(
          both.output,
          "ConfigError: config --state/--store: give exactly one of --state FILE or --store URL"
        )
        const { code, output } = yield* run("--store", cluster.url)
        assert.strictEqual(code, 0, output)
        assert.match(output, /epoch 1 committed: .*913-0000019:4 \(proxy\)/)
        assert.deepStrictEqual((yield* nodes[4]?.node.status ?? Effect.die("no node")).persistentState.commits, [1])
        const saved = yield* ControlPlaneStore.postgres.pipe(
          Effect.flatMap((store) => store.load(rackId)),
          Effect.provide(PgClient.layer({ url: Redacted.make(cluster.url) }))
        )
        assert.deepStrictEqual(
          saved.configs.map((c) => [c.epoch, c.phase, c.members.length]),
          [[1, "Committed", 5]]
        )
      }),
    // Two tq processes (each up to the helper's 30 s) and a PostgreSQL cluster.
    90_000
  )
})

describe("tq node run", () => {
  it.live(
    "limits in the config bound admission: beyond maxInFlightProxied, a proxied call is Busy (429) at once",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("tq-limits")
        const rack = yield* ProcessRack.make({ dir, ids: [sled(0), sled(1)], limits: { maxInFlightProxied: 1 } })
        yield* rack.start(0)
        yield* rack.start(1)
        const url = yield* rack.api(0)
        const status = Effect.map(call(`${url}/status`), (r) => JSON.parse(r.body))
        yield* eventually(status, (s) => s.connectedPeers?.length === 1)
        // Sled 1 stops answering (SIGSTOP): sled 0's one allowed request waits on it.
        yield* rack.pause(1)
        const destination = { destination: { partNumber: "913-0000019", serialNumber: "1" } }
        const first = yield* Effect.forkChild(call(`${url}/proxy/status`, destination), { startImmediately: true })
        yield* eventually(status, (s) => s.proxiedRequests === 1)
        const second = yield* call(`${url}/proxy/status`, destination)
        assert.deepStrictEqual([second.status, JSON.parse(second.body)], [429, { _tag: "Busy", limit: 1 }])
        yield* rack.resume(1)
        const answered = yield* Fiber.join(first)
        assert.strictEqual(answered.status, 200, answered.body)
        assert.deepStrictEqual(JSON.parse(answered.body).connectedPeers, [
          { partNumber: "913-0000019", serialNumber: "0" }
        ])
      }),
    60_000
  )

  it.live("exits non-zero with NodeStopped and its reason once its node stops, so a supervisor restarts it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-stop")
      const rack = yield* ProcessRack.make({ dir, ids: [sled(0)] })
      yield* rack.start(0)
      const url = yield* rack.api(0)
      // From now on every write of either copy fails, and not transiently: its temp file is a directory.
      for (const path of rack.sleds[0]?.ledgerPaths ?? []) mkdirSync(`${path}.tmp`)
      const answer = yield* call(
        `${url}/reconfigure`,
        Schema.encodeSync(Schema.toCodecJson(ReconfigureMsg))(
          Decision.reconfigureMsg(rack.authority, {
            rackId,
            epoch: 1,
            lastCommittedEpoch: null,
            members: [sled(0), sled(1), sled(2)],
            threshold: 2,
            coordinator: sled(0)
          })
        )
      )
      assert.strictEqual(answer.status, 503, answer.body)
      assert.strictEqual(JSON.parse(answer.body)._tag, "NodeStopped")
      const exit = yield* rack.firstUnexpectedExit.pipe(Effect.timeout("10 seconds"))
      assert.match(exit, /: exit 1: NodeStopped: the node has stopped \(ledger write failed: .*\); restart it$/)
    })
  )
})
