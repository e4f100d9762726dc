import * as https from "node:https"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { NodeApi } from "../../src/api/NodeApi.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as Wire from "../../src/runtime/Wire.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { CommitRequest, PrepareAndCommitRequest, ReconfigureMsg } from "../../src/types/Request.ts"
import { connected, eventually, mesh, proofOf, rackId, reconfigureMsg, sled, startNode } from "../runtime/rack.ts"
import { call } from "./http.ts"
import { serveApi, serveLoneNode } from "./serve.ts"

/** Four nodes over the memory transport; node 0 serves the HTTP API on a free port. */
const rack = Effect.gen(function* () {
  const network = Transport.makeMemoryNetwork()
  const nodes = yield* Effect.forEach([0, 1, 2, 3], (i) => startNode(i, () => network.transport))
  yield* mesh(nodes)
  yield* connected(nodes, 3)
  const first = nodes[0]
  if (!first) throw new Error("nodes")
  const url = yield* serveApi(first.node)
  const client = yield* HttpApiClient.make(NodeApi, { baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer))
  return { nodes, url, client }
})

describe("node HTTP API against a real node", () => {
  it.live("every endpoint, with typed errors mapped to statuses", () =>
    Effect.gen(function* () {
      const { client, url } = yield* rack
      const notCoordinating = yield* Effect.flip(client.coordinatorStatus())
      assert.strictEqual(notCoordinating._tag, "NotCoordinating")

      yield* client.reconfigure({ payload: reconfigureMsg(1, [0, 1, 2, 3], 3, null, sled(0)) })
      const status = yield* eventually(client.coordinatorStatus(), (s) => s.ackedPrepares.length === 4)
      assert.strictEqual(status.config.epoch, 1)
      const retry = yield* Effect.flip(
        client.reconfigure({ payload: reconfigureMsg(1, [0, 1, 2, 3], 3, null, sled(0)) })
      )
      assert.strictEqual(retry._tag, "PreparedEpochMismatch")

      assert.strictEqual(
        yield* client.commit({ payload: new CommitRequest({ rackId, epoch: 1, proof: proofOf(status.config) }) }),
        "Committed"
      )
      const notPrepared = yield* Effect.flip(
        client.commit({ payload: new CommitRequest({ rackId, epoch: 7, proof: proofOf(status.config) }) })
      )
      assert.strictEqual(notPrepared._tag, "NotPrepared")

      // Through node 0's proxy: the other members have no API in this test.
      for (const i of [1, 2, 3]) {
        const committed = yield* client.proxyCommit({
          payload: {
            destination: sled(i),
            request: new CommitRequest({ rackId, epoch: 1, proof: proofOf(status.config) })
          }
        })
        assert.strictEqual(committed, "Committed")
      }
      const remote = yield* client.proxyStatus({ payload: { destination: sled(3) } })
      assert.deepStrictEqual(remote.persistentState.commits, [1])
      const proxiedNotPrepared = yield* Effect.flip(
        client.proxyCommit({
          payload: {
            destination: sled(3),
            request: new CommitRequest({ rackId, epoch: 2, proof: proofOf(status.config) })
          }
        })
      )
      assert.strictEqual(proxiedNotPrepared._tag, "NotPrepared")
      const missing = yield* Effect.flip(client.proxyStatus({ payload: { destination: sled(9) } }))
      assert.strictEqual(missing._tag, "Disconnected")
      const again = yield* client.proxyPrepareAndCommit({
        payload: {
          destination: sled(2),
          request: new PrepareAndCommitRequest({ config: status.config, proof: proofOf(status.config) })
        }
      })
      assert.strictEqual(again, "Committed")

      const secret = yield* eventually(client.loadLatestRackSecret(), (s) => s._tag === "Loaded")
      assert.isTrue(secret._tag === "Loaded" && secret.epoch === 1 && /^[0-9a-f]{8}$/.test(secret.fingerprint))
      assert.strictEqual((yield* client.status()).persistentState.commits.length, 1)
      assert.strictEqual((yield* client.connections()).length, 3)

      // The status codes and bodies on the wire.
      const proof = Buffer.from(proofOf(status.config)).toString("base64")
      const wrongEpoch = yield* call(`${url}/commit`, JSON.stringify({ rackId, epoch: 9, proof }))
      assert.strictEqual(wrongEpoch.status, 409)
      assert.strictEqual(JSON.parse(wrongEpoch.body)._tag, "NotPrepared")
      const forged = Buffer.alloc(64, 7).toString("base64")
      const unauthorized = yield* call(`${url}/commit`, JSON.stringify({ rackId, epoch: 1, proof: forged }))
      assert.strictEqual(unauthorized.status, 403)
      assert.deepStrictEqual(JSON.parse(unauthorized.body), {
        _tag: "NotAuthorized",
        decision: "Commit",
        epoch: 1,
        reason: "Signature"
      })
      const unreachable = yield* call(
        `${url}/proxy/status`,
        JSON.stringify({ destination: { partNumber: "913-0000019", serialNumber: "9" } })
      )
      assert.strictEqual(unreachable.status, 503)
      assert.strictEqual(JSON.parse(unreachable.body)._tag, "Disconnected")
      const malformed = yield* call(`${url}/commit`, JSON.stringify({ rackId, epoch: "one" }))
      assert.strictEqual(malformed.status, 400)
      assert.strictEqual(JSON.parse(malformed.body)._tag, "BadRequest")
      assert.match(JSON.parse(malformed.body).issue, /Expected/)
      const notJson = yield* call(`${url}/reconfigure`, "{")
      assert.strictEqual(notJson.status, 400)
      const openapi = yield* Effect.promise(() => fetch(`${url}/openapi.json`).then((r) => r.text()))
      for (const path of [
        "/reconfigure",
        "/coordinator-status",
        "/commit",
        "/proxy/commit",
        "/proxy/prepare-and-commit",
        "/proxy/status"
      ]) {
        assert.include(openapi, `"${path}"`)
      }
    })
  )
})

describe("node HTTP API runtime error statuses", () => {
  const serve = serveLoneNode

  it.live("Busy answers 429 with its tag", () =>
    Effect.gen(function* () {
      const url = yield* serve({ maxPendingApi: 0 })
      const response = yield* Effect.promise(() =>
        fetch(`${url}/status`).then(async (r) => ({ status: r.status, body: await r.text() }))
      )
      assert.strictEqual(response.status, 429)
      assert.strictEqual(JSON.parse(response.body)._tag, "Busy")
    })
  )

  it.live("a node stopped by a failed ledger write answers 503 NodeStopped", () =>
    Effect.gen(function* () {
      const ledger = Ledger.memory<PersistentState>()
      ledger.failNextWrites(1)
      const url = yield* serve({ ledger })
      const first = yield* call(
        `${url}/reconfigure`,
        JSON.stringify(
          Schema.encodeSync(Schema.toCodecJson(ReconfigureMsg))(reconfigureMsg(1, [0, 1, 2], 2, null, sled(0)))
        )
      )
      assert.strictEqual(first.status, 503)
      assert.strictEqual(JSON.parse(first.body)._tag, "NodeStopped")
      const later = yield* Effect.promise(() => fetch(`${url}/status`).then((r) => r.status))
      assert.strictEqual(later, 503)
    })
  )
})

/** A request's status and body (`init.body` sent as JSON when given). */
const request = (
  url: string,
  init: { readonly method?: string; readonly body?: string; readonly type?: string } = {}
) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: init.method ?? "GET",
      ...(init.body === undefined ? {} : { body: init.body }),
      headers: { "content-type": init.type ?? "application/json" }
    })
    return { status: response.status, allow: response.headers.get("allow"), body: await response.text() }
  })

describe("node HTTP API bounds and server errors", () => {
  it.live("answers of the server itself have the JSON error shape: 404, 405, 415, and 413 over the body limit", () =>
    Effect.gen(function* () {
      const url = yield* serveLoneNode()
      const unknown = yield* request(`${url}/nope`)
      assert.deepStrictEqual(
        [unknown.status, JSON.parse(unknown.body)],
        [404, { _tag: "NotFound", method: "GET", path: "/nope" }]
      )
      const wrongMethod = yield* request(`${url}/commit`)
      assert.deepStrictEqual(
        [wrongMethod.status, wrongMethod.allow, JSON.parse(wrongMethod.body)],
        [405, "POST", { _tag: "MethodNotAllowed", method: "GET", path: "/commit", allowed: ["POST"] }]
      )
      const text = yield* request(`${url}/commit`, { method: "POST", body: "hello", type: "text/plain" })
      assert.deepStrictEqual(
        [text.status, JSON.parse(text.body)],
        [415, { _tag: "UnsupportedMediaType", contentType: "text/plain", expected: "application/json" }]
      )
      const huge = JSON.stringify({ rackId: "x".repeat(2 * 1024 * 1024), epoch: 1 })
      const tooLarge = yield* request(`${url}/commit`, { method: "POST", body: huge })
      assert.deepStrictEqual(
        [tooLarge.status, JSON.parse(tooLarge.body)],
        [413, { _tag: "PayloadTooLarge", limitBytes: 1024 * 1024 }]
      )
      // The node still answers after refusing it.
      assert.strictEqual((yield* request(`${url}/status`)).status, 200)
    })
  )

  it.live("the body limit is configurable", () =>
    Effect.gen(function* () {
      const network = Transport.makeMemoryNetwork()
      const { node } = yield* startNode(0, () => network.transport)
      const url = yield* serveApi(node, { maxBodyBytes: 64 })
      // Under the limit the body is read and decoded (and refused for what it says); over it, for its size.
      const small = yield* request(`${url}/commit`, { method: "POST", body: JSON.stringify({ rackId, epoch: 1 }) })
      assert.deepStrictEqual([small.status, JSON.parse(small.body)._tag], [400, "BadRequest"])
      const over = yield* request(`${url}/commit`, { method: "POST", body: JSON.stringify({ rackId: "x".repeat(64) }) })
      assert.deepStrictEqual([over.status, JSON.parse(over.body)], [413, { _tag: "PayloadTooLarge", limitBytes: 64 }])
    })
  )

  it.live("a proxied call to a live but silent destination answers 504 ProxyTimeout at the server's deadline", () =>
    Effect.gen(function* () {
      const network = Transport.makeMemoryNetwork()
      const { node } = yield* startNode(0, () => network.transport)
      // Sled 7 completes the handshake and then never answers anything.
      const silent = yield* network.transport.dial(node.listenAddress)
      yield* silent.write(
        Wire.encode(
          new Wire.Hello({
            id: sled(7),
            listenAddress: { host: "127.0.0.1", port: 1 },
            protocolVersion: Wire.protocolVersion
          })
        )
      )
      yield* eventually(node.connections, (links) => links.length === 1)
      const url = yield* serveApi(node, { proxyTimeout: "300 millis" })
      const answer = yield* request(`${url}/proxy/status`, {
        method: "POST",
        body: JSON.stringify({ destination: { partNumber: "913-0000019", serialNumber: "7" } })
      })
      assert.deepStrictEqual(
        [answer.status, JSON.parse(answer.body)],
        [504, { _tag: "ProxyTimeout", destination: String(sled(7)), millis: 300 }]
      )
      assert.strictEqual((yield* node.status).proxiedRequests, 0)
    })
  )

  it.live("with TLS in its options the API is served over HTTPS only", () =>
    Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const server = yield* RackPki.issueLeafCertificate(ca, { subject: "api", uris: [] })
      const network = Transport.makeMemoryNetwork()
      const { node } = yield* startNode(0, () => network.transport)
      const url = yield* serveApi(node, { tls: { certPem: server.certPem, keyPem: server.keyPem } })
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/)
      const status = yield* Effect.callback<number>((resume) => {
        const req = https.get(`${url}/status`, { ca: ca.certPem, checkServerIdentity: () => undefined }, (res) => {
          res.resume()
          resume(Effect.succeed(res.statusCode ?? 0))
        })
        req.on("error", (e) => resume(Effect.die(e)))
      })
      assert.strictEqual(status, 200)
      const plain = yield* Effect.promise(() =>
        fetch(url.replace("https:", "http:") + "/status").then(
          (r) => `status ${r.status}`,
          () => "refused"
        )
      )
      assert.strictEqual(plain, "refused")
    })
  )
})
