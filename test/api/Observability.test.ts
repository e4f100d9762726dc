import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient, OpenApi } from "effect/http-api"
import { NodeApi } from "../../src/api/NodeApi.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { PersistentState } from "../../src/types/PersistentState.ts"
import { CommitRequest, ReconfigureMsg } from "../../src/types/Request.ts"
import { runProcess } from "../examples/script.ts"
import { connected, eventually, mesh, proofOf, rackId, reconfigureMsg, sled, startNode } from "../runtime/rack.ts"
import { tempDir } from "../runtime/tempDir.ts"
import { serveApi, serveLoneNode } from "./serve.ts"

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

const post = (url: string, body: string) =>
  Effect.promise(() => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body }))

const reconfigure = JSON.stringify(
  Schema.encodeSync(Schema.toCodecJson(ReconfigureMsg))(reconfigureMsg(1, [0, 1, 2], 2, null, sled(0)))
)

describe("health and readiness", () => {
  it.live("/healthz answers 200; /readyz says why a member is not ready until it has committed", () =>
    Effect.gen(function* () {
      const network = Transport.makeMemoryNetwork()
      const nodes = yield* Effect.forEach([0, 1, 2], (i) => startNode(i, () => network.transport))
      yield* mesh(nodes)
      yield* connected(nodes, 2)
      const first = nodes[0]
      if (first === undefined) return yield* Effect.die("no node")
      const url = yield* serveApi(first.node)
      const client = yield* HttpApiClient.make(NodeApi, { baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer))

      assert.deepStrictEqual(yield* get(`${url}/healthz`), {
        status: 200,
        type: "application/json",
        body: `{"status":"ok"}`
      })
      // A node that is in no configuration yet (a new sled) has nothing to commit: ready.
      assert.deepStrictEqual(yield* client.readyz(), { status: "ready", committedEpoch: null })

      yield* client.reconfigure({ payload: reconfigureMsg(1, [0, 1, 2], 2, null, sled(0)) })
      const coordinating = yield* eventually(client.coordinatorStatus(), (s) => s.ackedPrepares.length === 3)
      const prepared = yield* get(`${url}/readyz`)
      assert.strictEqual(prepared.status, 503)
      assert.deepStrictEqual(JSON.parse(prepared.body), {
        _tag: "NotReady",
        reasons: ["a member of epoch 1, which it has not committed"]
      })

      yield* client.commit({ payload: new CommitRequest({ rackId, epoch: 1, proof: proofOf(coordinating.config) }) })
      assert.deepStrictEqual(yield* client.readyz(), { status: "ready", committedEpoch: 1 })
    })
  )

  it.live("/readyz is 503 when a ledger copy cannot be written, and when the node has stopped", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("readyz")
      const url = yield* serveLoneNode({
        ledger: Ledger.file({ paths: [join(dir, "a.json"), join(dir, "b.json")], schema: PersistentState })
      })
      // From now on the second copy cannot be written (its temp file is a directory); the first still can.
      mkdirSync(join(dir, "b.json.tmp"))
      yield* post(`${url}/reconfigure`, reconfigure)
      const degraded = yield* get(`${url}/readyz`)
      assert.strictEqual(degraded.status, 503)
      assert.deepStrictEqual(JSON.parse(degraded.body).reasons, [
        "the ledger reached 1 of 2 copies",
        "a member of epoch 1, which it has not committed"
      ])

      const ledger = Ledger.memory<PersistentState>()
      ledger.failNextWrites(1)
      const stoppedUrl = yield* serveLoneNode({ ledger })
      yield* post(`${stoppedUrl}/reconfigure`, reconfigure)
      const stopped = yield* get(`${stoppedUrl}/readyz`)
      assert.strictEqual(stopped.status, 503)
      assert.match(JSON.parse(stopped.body).reasons[0], /^NodeStopped: /)
      assert.strictEqual((yield* get(`${stoppedUrl}/healthz`)).status, 200)
    })
  )
})

describe("metrics and docs", () => {
  it.live("/metrics is a Prometheus scrape of the proxy, links, handshakes, ledger and NodeTask metrics", () =>
    Effect.gen(function* () {
      const network = Transport.makeMemoryNetwork()
      const nodes = yield* Effect.forEach([0, 1, 2], (i) => startNode(i, () => network.transport))
      yield* mesh(nodes)
      yield* connected(nodes, 2)
      const first = nodes[0]
      if (first === undefined) return yield* Effect.die("no node")
      const url = yield* serveApi(first.node)
      const client = yield* HttpApiClient.make(NodeApi, { baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer))
      yield* client.reconfigure({ payload: reconfigureMsg(1, [0, 1, 2], 2, null, sled(0)) })
      yield* eventually(client.coordinatorStatus(), (s) => s.ackedPrepares.length === 3)
      yield* client.proxyStatus({ payload: { destination: sled(2) } })
      yield* Effect.flip(client.proxyStatus({ payload: { destination: sled(9) } }))
      yield* nodes[2]?.node.setPeers([]) ?? Effect.void
      yield* eventually(first.node.status, (s) => s.connectedPeers.length === 1)

      const scrape = yield* get(`${url}/metrics`)
      assert.strictEqual(scrape.status, 200)
      assert.match(scrape.type ?? "", /^text\/plain/)
      const types = new Map(
        scrape.body
          .split("\n")
          .filter((l) => l.startsWith("# TYPE "))
          .map((l) => l.split(" ").slice(2, 4) as [string, string])
      )
      for (const [name, type] of [
        ["tq_proxy_in_flight", "gauge"],
        ["tq_proxy_completed", "counter"],
        ["tq_proxy_disconnected", "counter"],
        ["tq_proxy_busy", "counter"],
        ["tq_proxy_late_responses", "counter"],
        ["tq_links", "gauge"],
        ["tq_link_closures", "counter"],
        ["tq_handshakes_refused", "counter"],
        ["tq_ledger_write", "histogram"],
        ["tq_ledger_copies_written", "gauge"],
        ["tq_ledger_copies_configured", "gauge"],
        ["tq_node_task_queue_depth", "gauge"]
      ]) {
        assert.strictEqual(types.get(name ?? ""), type, `${name}`)
      }
      const value = (series: string) =>
        Number(
          scrape.body
            .split("\n")
            .find((l) => l.startsWith(`${series} `))
            ?.split(" ")[1]
        )
      assert.isAtLeast(value("tq_proxy_completed"), 1)
      assert.isAtLeast(value(`tq_link_closures{reason="PeerRemoved"}`), 1)
      assert.strictEqual(value("tq_handshakes_refused"), 0)
      assert.strictEqual(value("tq_ledger_copies_configured"), 1)
      assert.isAtLeast(value("tq_ledger_write_count"), 3)
    })
  )

  it.live("/docs serves Effect's bundled API reference page for the OpenAPI document", () =>
    Effect.gen(function* () {
      const url = yield* serveLoneNode()
      const docs = yield* get(`${url}/docs`)
      assert.strictEqual(docs.status, 200)
      assert.match(docs.type ?? "", /^text\/html/)
      assert.include(docs.body, "effect-trust-quorum node API")
    })
  )
})

describe("the OpenAPI document", () => {
  const spec = OpenApi.fromApi(NodeApi)

  it("has a summary and description on every operation, servers, and the 400, 413 and 415 bodies the server sends", () => {
    assert.deepStrictEqual(spec.servers, [{ url: "/", description: "the node serving this document" }])
    const operations = Object.values(spec.paths).flatMap((item) =>
      [item.get, item.post].filter((op) => op !== undefined)
    )
    assert.strictEqual(operations.length, 14)
    for (const op of operations) {
      assert.isAbove(op.summary?.length ?? 0, 0, op.operationId)
      assert.isAbove(op.description?.length ?? 0, 0, op.operationId)
      if (op.requestBody !== undefined) {
        for (const code of ["400", "413", "415"]) assert.property(op.responses, code, op.operationId)
      }
    }
    assert.include(JSON.stringify(spec.paths["/commit"]?.post?.responses?.["400"]), "BadRequest")
  })

  it.live("passes redocly lint with the recommended rules and zero errors", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("openapi")
      const path = join(dir, "openapi.json")
      writeFileSync(path, JSON.stringify(spec))
      const { code, output } = yield* runProcess(join("node_modules", ".bin", "redocly"), [
        "lint",
        "--extends",
        "recommended",
        path
      ]).pipe(Effect.timeout("60 seconds"))
      assert.strictEqual(code, 0, output)
      assert.include(output, "Your API description is valid.")
    })
  )
})
