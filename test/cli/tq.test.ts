import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import * as fc from "fast-check"
import * as ControlPlaneStore from "../../src/control/ControlPlaneStore.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { testCase } from "../../src/testing/Action.ts"
import * as EventLog from "../../src/testing/EventLog.ts"
import * as PgCluster from "../../src/testing/PgCluster.ts"
import * as ProcessRack from "../../src/testing/ProcessRack.ts"
import * as Decision from "../../src/types/Decision.ts"
import { ReconfigureMsg } from "../../src/types/Request.ts"
import { serveApi } from "../api/serve.ts"
import { runScript } from "../examples/script.ts"
import { authority, connected, mesh, rackId, sled, startNode } from "../runtime/rack.ts"
import { tempDir } from "../runtime/tempDir.ts"

const tq = (...args: ReadonlyArray<string>) => runScript(["src/cli/tq.ts", ...args]).pipe(Effect.timeout("30 seconds"))

describe("tq", () => {
  it.live("--help lists every command group", () =>
    Effect.gen(function* () {
      const { code, output } = yield* tq("--help")
      assert.strictEqual(code, 0)
      for (const c of ["node", "status", "add-sled", "control-plane", "certs", "replay"]) assert.include(output, c)
      const nodeHelp = yield* tq("node", "run", "--help")
      assert.include(nodeHelp.output, "--config")
    })
  )

  it.live("certs init writes a rack CA and one certificate and key per node", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "tq-certs-"))
      const { code } = yield* tq("certs", "init", dir, "--id", "913:1", "--id", "913:2")
      const files = readdirSync(dir).sort()
      rmSync(dir, { recursive: true, force: true })
      assert.strictEqual(code, 0)
      assert.deepStrictEqual(files, [
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

  it.live("a bad config file fails with its tag, a one-line explanation, and a non-zero exit", () =>
    Effect.gen(function* () {
      const { code, output } = yield* tq("node", "run", "--config", "/nonexistent/config.json")
      assert.notStrictEqual(code, 0)
      assert.match(output, /ConfigError: config \/nonexistent\/config.json/)
    })
  )

  it.live("replay re-runs a simulation event log and prints each event", () =>
    Effect.gen(function* () {
      const [c] = fc.sample(testCase(20, 30), { seed: 3, numRuns: 1 })
      if (c === undefined) throw new Error("no case")
      const dir = mkdtempSync(join(tmpdir(), "tq-replay-"))
      const path = EventLog.write(c, dir)
      const { code, output } = yield* tq("replay", path)
      rmSync(dir, { recursive: true, force: true })
      assert.strictEqual(code, 0, output)
      assert.include(output, "#0 ")
      assert.include(output, "the case passes every invariant and the liveness phase")
    })
  )

  it.live("status against an address nobody serves fails non-zero", () =>
    Effect.gen(function* () {
      const { code } = yield* tq("status", "--api", "http://127.0.0.1:1")
      assert.notStrictEqual(code, 0)
    })
  )
})

/**
 * Five nodes over the in-memory transport; the first four serve their API. The flags name them
 * (`--member id=URL`) and the control plane's authority key (written to a file).
 */
const apiRack = Effect.gen(function* () {
  const network = Transport.makeMemoryNetwork()
  const nodes = yield* Effect.forEach([0, 1, 2, 3, 4], (i) => startNode(i, () => network.transport))
  yield* mesh(nodes)
  yield* connected(nodes, 4)
  const urls = yield* Effect.forEach(nodes.slice(0, 4), (n) =>
    Effect.map(serveApi(n.node), (url) => `${n.node.id}=${url}`)
  )
  const keys = yield* tempDir("authority")
  writeFileSync(join(keys, "authority.key"), authority.toPem(), { mode: 0o600 })
  return { nodes, members: ["--authority-key", join(keys, "authority.key"), ...urls.flatMap((u) => ["--member", u])] }
})

describe("tq add-sled", () => {
  it.live("drives a rack over the members' HTTP APIs; the sled without an API is committed through a proxy", () =>
    Effect.gen(function* () {
      const { nodes, members } = yield* apiRack
      const dir = mkdtempSync(join(tmpdir(), "tq-add-sled-"))
      const { code, output } = yield* tq(
        "add-sled",
        "--state",
        join(dir, "cp.json"),
        "--rack-id",
        rackId,
        ...members,
        "--sled",
        String(sled(4))
      )
      rmSync(dir, { recursive: true, force: true })
      assert.strictEqual(code, 0, output)
      assert.match(output, /epoch 1 committed: .*913-0000019:4 \(proxy\)/)
      assert.deepStrictEqual((yield* nodes[4]?.node.status ?? Effect.die("no node")).persistentState.commits, [1])
    })
  )

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
  it.live("exits non-zero with NodeStopped and its reason once its node stops, so a supervisor restarts it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("tq-stop")
      const rack = yield* ProcessRack.make({ dir, ids: [sled(0)] })
      yield* rack.start(0)
      const url = yield* rack.api(0)
      // From now on every write of either copy fails, and not transiently: its temp file is a directory.
      for (const path of rack.sleds[0]?.ledgerPaths ?? []) mkdirSync(`${path}.tmp`)
      const answer = yield* Effect.promise(async () => {
        const response = await fetch(`${url}/reconfigure`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(
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
        })
        return { status: response.status, body: await response.text() }
      })
      assert.strictEqual(answer.status, 503, answer.body)
      assert.strictEqual(JSON.parse(answer.body)._tag, "NodeStopped")
      const exit = yield* rack.firstUnexpectedExit.pipe(Effect.timeout("10 seconds"))
      assert.match(exit, /: exit 1: NodeStopped: the node has stopped \(ledger write failed: .*\); restart it$/)
    })
  )
})
