/**
 * Serves the node HTTP API (`NodeApi`) for a running `TrustQuorumNode`, on its own address (the
 * underlay), separate from the peer port. `layer({ host, port })` serves it for the layer's lifetime;
 * the OpenAPI document is at `/openapi.json`, its docs page at `/docs` (Effect's bundled Scalar UI, no
 * network needed) and the process's metrics at `/metrics` (Prometheus text format). Handlers only
 * translate: every decision is the node's.
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, HttpApiError, HttpApiScalar } from "effect/http-api"
import * as NetAddress from "effect/net/NetAddress"
import { PrometheusMetrics } from "effect/observability"
import { TrustQuorumNode } from "../runtime/TrustQuorumNode.ts"
import {
  type BadRequest,
  NodeApi,
  NotCoordinating,
  NotReady,
  notReadyReasons,
  type RackSecretStatus
} from "./NodeApi.ts"

/** The handlers, for a `TrustQuorumNode` in context. */
export const handlers = HttpApiBuilder.group(
  NodeApi,
  "trustQuorum",
  Effect.fn(function* (h) {
    const node = yield* TrustQuorumNode
    return h.handleAll({
      reconfigure: ({ payload }) => node.reconfigure(payload),
      coordinatorStatus: () =>
        Effect.flatMap(node.coordinatorStatus, (s) =>
          Option.match(s, { onNone: () => Effect.fail(new NotCoordinating()), onSome: Effect.succeed })
        ),
      commit: ({ payload }) => node.commit(payload.rackId, payload.epoch, payload.proof),
      prepareAndCommit: ({ payload }) => node.prepareAndCommit(payload.config, payload.proof),
      loadLatestRackSecret: () =>
        Effect.map(node.loadLatestRackSecret, (loaded) =>
          Option.match(loaded, {
            onNone: (): RackSecretStatus => ({ _tag: "Pending" }),
            onSome: ({ epoch, secret }): RackSecretStatus => ({
              _tag: "Loaded",
              epoch,
              fingerprint: secret.fingerprint()
            })
          })
        ),
      status: () => node.status,
      connections: () => node.connections,
      proxyCommit: ({ payload }) =>
        node.proxy.commit(payload.destination, payload.request.rackId, payload.request.epoch, payload.request.proof),
      proxyPrepareAndCommit: ({ payload }) =>
        node.proxy.prepareAndCommit(payload.destination, payload.request.config, payload.request.proof),
      proxyStatus: ({ payload }) => node.proxy.status(payload.destination)
    })
  })
)

/** Liveness and readiness. */
export const operations = HttpApiBuilder.group(
  NodeApi,
  "operations",
  Effect.fn(function* (h) {
    const node = yield* TrustQuorumNode
    return h.handleAll({
      healthz: () => Effect.succeed({ status: "ok" as const }),
      readyz: Effect.fn(function* () {
        const status = yield* node.status.pipe(
          Effect.mapError((e) => new NotReady({ reasons: [`${e._tag}: ${e.message}`] }))
        )
        const reasons = notReadyReasons(status.persistentState, yield* node.ledgerCopies)
        if (reasons.length > 0) return yield* new NotReady({ reasons })
        return { status: "ready" as const, committedEpoch: status.persistentState.commits.at(-1) ?? null }
      })
    })
  })
)

/**
 * A request that does not decode answers 400 with the Schema issue in a JSON body (the default is an
 * empty 400: the decoding failure reaches here as a defect of the HttpApi pipeline).
 */
const badRequestWithIssue = HttpRouter.middleware(
  (httpEffect) =>
    httpEffect.pipe(
      Effect.catchDefect((defect) =>
        HttpApiError.HttpApiSchemaError.is(defect) && defect.kind !== "ResponseHeaders" && defect.kind !== "Body"
          ? HttpServerResponse.json(
              {
                _tag: "BadRequest",
                part: defect.kind,
                issue: defect.cause.message
              } satisfies typeof BadRequest.Encoded,
              { status: 400 }
            )
          : Effect.die(defect)
      )
    ),
  { global: true }
)

/** The API's routes, with `/openapi.json`, `/docs` and `/metrics`. */
export const routes = Layer.mergeAll(
  HttpApiBuilder.layer(NodeApi, { openapiPath: "/openapi.json" }).pipe(
    Layer.provide(handlers),
    Layer.provide(operations)
  ),
  HttpApiScalar.layer(NodeApi, { path: "/docs" }),
  PrometheusMetrics.layerHttp({ path: "/metrics" }),
  badRequestWithIssue
)

/** Serves the API on `host:port` (port 0 picks a free port; read it from `HttpServer.HttpServer`'s address). */
export const layer = (options: { readonly host: string; readonly port: number }) =>
  HttpRouter.serve(routes).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, options)))

/** The bound address of the API server in context, as a base URL. */
export const baseUrl = Effect.gen(function* () {
  const { address } = yield* HttpServer.HttpServer
  return NetAddress.formatUrlUnsafe(address, "http")
})
