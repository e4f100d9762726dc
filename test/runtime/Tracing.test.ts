import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { NodeApi } from "../../src/api/NodeApi.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { CommitRequest } from "../../src/types/Request.ts"
import { serveApi } from "../api/serve.ts"
import { receiver } from "./otlpReceiver.ts"
import { connected, eventually, mesh, proofOf, rackId, reconfigureMsg, sled, startNode } from "./rack.ts"

const tracing = (url: string) =>
  OtlpTracer.layer({ url, resource: { serviceName: "tq-test" }, exportInterval: "100 millis" }).pipe(
    Layer.provide([OtlpSerialization.layerJson, FetchHttpClient.layer])
  )

describe("traces across the proxy", () => {
  it.live("a control plane's commit, the member's forward and the destination's serve form one trace", () =>
    Effect.gen(function* () {
      const { url: collector, spans } = yield* receiver

      const [traceId, directTraceId] = yield* Effect.gen(function* () {
        const network = Transport.makeMemoryNetwork()
        const nodes = yield* Effect.forEach([0, 1, 2], (i) => startNode(i, () => network.transport))
        yield* mesh(nodes)
        yield* connected(nodes, 2)
        const member = nodes[0]
        if (member === undefined) return yield* Effect.die("no node")
        const url = yield* serveApi(member.node)
        const client = yield* HttpApiClient.make(NodeApi, { baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer))
        yield* client.reconfigure({ payload: reconfigureMsg(1, [0, 1, 2], 2, null, sled(0)) })
        const status = yield* eventually(client.coordinatorStatus(), (s) => s.ackedPrepares.length === 3)
        // The control plane commits sled 2, which has no API, through sled 0's proxy.
        const proxied = yield* Effect.gen(function* () {
          const committed = yield* client.proxyCommit({
            payload: {
              destination: sled(2),
              request: new CommitRequest({ rackId, epoch: 1, proof: proofOf(status.config) })
            }
          })
          assert.strictEqual(committed, "Committed")
          return (yield* Effect.currentSpan).traceId
        }).pipe(Effect.withSpan("control-plane commit"))
        // And sled 0 directly: the API call becomes a NodeTask event in the same trace, its ledger write below it.
        const direct = yield* Effect.gen(function* () {
          const committed = yield* client.commit({
            payload: new CommitRequest({ rackId, epoch: 1, proof: proofOf(status.config) })
          })
          assert.strictEqual(committed, "Committed")
          return (yield* Effect.currentSpan).traceId
        }).pipe(Effect.withSpan("control-plane direct commit"))
        return [proxied, direct] as const
      }).pipe(Effect.provide(tracing(`${collector}/v1/traces`)), Effect.scoped)

      // The exporter flushed when its layer closed; every span of the commit is in the receiver.
      const trace = spans.filter((s) => s.traceId === traceId)
      const byName = (name: string) => trace.find((s) => s.name === name)
      const root = byName("control-plane commit")
      const forward = byName("tq.proxy.request")
      const serve = byName("tq.proxy.serve")
      assert.isDefined(root)
      assert.isDefined(forward)
      assert.isDefined(serve)
      // control plane → its HTTP client (POST) → the member's HTTP server (POST) → the forward → the serve → its ledger write
      assert.deepStrictEqual(trace.map((s) => s.name).sort(), [
        "POST",
        "POST",
        "control-plane commit",
        "tq.ledger.write",
        "tq.proxy.request",
        "tq.proxy.serve"
      ])
      const httpServer = trace.find((s) => s.name === "POST" && s.spanId === forward?.parentSpanId)
      assert.isDefined(httpServer)
      assert.strictEqual(
        trace.find((s) => s.spanId === httpServer?.parentSpanId)?.parentSpanId,
        root?.spanId,
        "the member's server span is a child of the control plane's client span"
      )
      assert.strictEqual(serve?.parentSpanId, forward?.spanId)
      assert.isTrue(trace.some((s) => s.name === "tq.ledger.write" && s.parentSpanId === serve?.spanId))

      // control plane → HTTP client → the node's HTTP server → its NodeTask event (Api) → its ledger write
      const direct = spans.filter((s) => s.traceId === directTraceId)
      const event = direct.find((s) => s.name === "tq.node.event")
      assert.isDefined(event)
      assert.strictEqual(direct.find((s) => s.spanId === event?.parentSpanId)?.name, "POST")
      assert.isTrue(direct.some((s) => s.name === "tq.ledger.write" && s.parentSpanId === event?.spanId))
    })
  )
})
