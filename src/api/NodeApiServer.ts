/**
 * Serves the node HTTP API (`NodeApi`) for a running `TrustQuorumNode`, on its own address (the
 * underlay), separate from the peer port. `layer({ host, port })` serves it for the layer's lifetime;
 * the OpenAPI document is at `/openapi.json`, its docs page at `/docs` (Effect's bundled Scalar UI, no
 * network needed) and the process's metrics at `/metrics` (Prometheus text format). Handlers only
 * translate: every decision is the node's.
 *
 * Bounds: a request body over `maxBodyBytes` (1 MiB) is refused with 413 while it is read, never
 * buffered whole; a proxied call gets `proxyTimeout` (10 s) to be answered, then 504 `ProxyTimeout`;
 * at most `maxConnections` (256) are open at once. With `tls`, the API is served over HTTPS (and with
 * `tls.caPem`, only to clients presenting a certificate from that CA).
 */
import { createServer } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { NodeHttpServer } from "@effect/platform-node"
import { ByteSize, Context, Duration, Effect, Layer, Option } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServer,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { HttpApiBuilder, HttpApiError, HttpApiScalar } from "effect/http-api"
import * as NetAddress from "effect/net/NetAddress"
import { PrometheusMetrics } from "effect/observability"
import * as ProxyOperation from "../runtime/ProxyOperation.ts"
import { TrustQuorumNode } from "../runtime/TrustQuorumNode.ts"
import {
  type BadRequest,
  NodeApi,
  NoNetworkConfig,
  NotCoordinating,
  NotReady,
  notReadyReasons,
  type PayloadTooLarge,
  type RackSecretStatus,
  type UnsupportedMediaType
} from "./NodeApi.ts"

/** How long a proxied call may wait for its destination before the API answers 504 `ProxyTimeout`. */
export const ProxyDeadline = Context.Reference<Duration.Duration>("effect-trust-quorum/NodeApiServer/ProxyDeadline", {
  defaultValue: () => Duration.seconds(10)
})

/** The handlers, for a `TrustQuorumNode` in context. */
export const handlers = HttpApiBuilder.group(
  NodeApi,
  "trustQuorum",
  Effect.fn(function* (h) {
    const node = yield* TrustQuorumNode
    const timeout = yield* ProxyDeadline
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
            onSome: ({ epoch, secret }): RackSecretStatus => {
              // The node handed over a copy: only its fingerprint leaves, so the copy is zeroed here.
              const fingerprint = secret.fingerprint()
              secret.dispose()
              return { _tag: "Loaded", epoch, fingerprint }
            }
          })
        ),
      status: () => node.status,
      connections: () => node.connections,
      networkConfig: () =>
        Effect.flatMap(node.networkConfig, (c) =>
          Option.match(c, { onNone: () => Effect.fail(new NoNetworkConfig()), onSome: Effect.succeed })
        ),
      updateNetworkConfig: ({ payload }) => node.updateNetworkConfig(payload),
      proxyCommit: ({ payload }) =>
        node.proxy.call(ProxyOperation.Commit, payload.destination, payload.request, { timeout }),
      proxyPrepareAndCommit: ({ payload }) =>
        node.proxy.call(ProxyOperation.PrepareAndCommit, payload.destination, payload.request, { timeout }),
      proxyStatus: ({ payload }) => node.proxy.call(ProxyOperation.Status, payload.destination, {}, { timeout })
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

/** The methods each path of the API answers, for telling 405 from 404. */
const methodsByPath = new Map<string, Array<string>>()
for (const group of Object.values(NodeApi.groups)) {
  for (const endpoint of Object.values(group.endpoints)) {
    methodsByPath.set(endpoint.path, [...(methodsByPath.get(endpoint.path) ?? []), endpoint.method])
  }
}
for (const path of ["/openapi.json", "/docs", "/metrics"]) methodsByPath.set(path, ["GET"])

/**
 * The server's own answers get the JSON error shape of the API's errors: an unknown route is 404
 * `NotFound` or, on a known path, 405 `MethodNotAllowed` (with `Allow`); an oversize body 413
 * `PayloadTooLarge`; a body that is not JSON 415 `UnsupportedMediaType`. `maxBodyBytes` bounds every
 * body read, so an oversize body is refused while it arrives.
 */
const jsonServerErrors = (maxBodyBytes: number) =>
  HttpRouter.middleware(
    (httpEffect) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const response = yield* httpEffect.pipe(
          Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
          Effect.catch((error) => {
            const answer = HttpServerError.isHttpServerError(error)
              ? serverError(request, error, maxBodyBytes)
              : undefined
            return answer === undefined ? Effect.fail(error) : Effect.succeed(answer)
          }),
          // A body read that fails inside the API's payload decoding reaches here as a defect.
          Effect.catchDefect((defect) => {
            const answer = HttpServerError.isHttpServerError(defect)
              ? serverError(request, defect, maxBodyBytes)
              : undefined
            return answer === undefined ? Effect.die(defect) : Effect.succeed(answer)
          })
        )
        if (response.status !== 415) return response
        return HttpServerResponse.jsonUnsafe(
          {
            _tag: "UnsupportedMediaType",
            contentType: request.headers["content-type"] ?? null,
            expected: "application/json"
          } satisfies typeof UnsupportedMediaType.Encoded,
          { status: 415 }
        )
      }),
    { global: true }
  )

/** The JSON answer to a routing or body-reading error, or none for the errors answered as they are. */
const serverError = (
  request: HttpServerRequest.HttpServerRequest,
  error: HttpServerError.HttpServerError,
  maxBodyBytes: number
): HttpServerResponse.HttpServerResponse | undefined => {
  const reason = error.reason
  if (reason._tag === "RouteNotFound") {
    const path = request.url.split("?")[0] ?? request.url
    const allowed = methodsByPath.get(path)
    return allowed === undefined
      ? HttpServerResponse.jsonUnsafe({ _tag: "NotFound", method: request.method, path }, { status: 404 })
      : HttpServerResponse.jsonUnsafe(
          { _tag: "MethodNotAllowed", method: request.method, path, allowed },
          { status: 405, headers: { allow: allowed.join(", ") } }
        )
  }
  if (reason._tag === "RequestParseError" && reason.reason === "BodyTooLarge") {
    return HttpServerResponse.jsonUnsafe(
      { _tag: "PayloadTooLarge", limitBytes: maxBodyBytes } satisfies typeof PayloadTooLarge.Encoded,
      { status: 413 }
    )
  }
  return undefined
}

/** How to serve the API. */
export interface ServeOptions {
  readonly host: string
  /** Port 0 picks a free port; read it from `HttpServer.HttpServer`'s address. */
  readonly port: number
  /** The largest request body accepted; larger ones are answered 413 (default 1 MiB; requests are small). */
  readonly maxBodyBytes?: number
  /** How long a proxied call may wait for its destination before a 504 `ProxyTimeout` (default 10 s). */
  readonly proxyTimeout?: Duration.Input
  /** Connections open at once; more are closed by the server at once (default 256). */
  readonly maxConnections?: number
  /** Serve HTTPS with this certificate and key (PEM); with `caPem`, clients must present a certificate it signed. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string; readonly caPem?: string }
}

/** The API's routes, with `/openapi.json`, `/docs`, `/metrics`, the JSON server errors and the body limit. */
export const routes = (maxBodyBytes = defaultMaxBodyBytes) =>
  Layer.mergeAll(
    HttpApiBuilder.layer(NodeApi, { openapiPath: "/openapi.json" }).pipe(
      Layer.provide(handlers),
      Layer.provide(operations)
    ),
    HttpApiScalar.layer(NodeApi, { path: "/docs" }),
    PrometheusMetrics.layerHttp({ path: "/metrics" }),
    badRequestWithIssue,
    jsonServerErrors(maxBodyBytes)
  )

/** The default request body limit: the largest request (a prepare-and-commit of 32 members) is a few KiB. */
export const defaultMaxBodyBytes = 1024 * 1024

/** Serves the API on `host:port`. */
export const layer = (options: ServeOptions) => {
  const tls = options.tls
  const server = () => {
    const s =
      tls === undefined
        ? createServer()
        : createHttpsServer({
            cert: tls.certPem,
            key: tls.keyPem,
            ...(tls.caPem === undefined ? {} : { ca: tls.caPem, requestCert: true, rejectUnauthorized: true })
          })
    s.maxConnections = options.maxConnections ?? 256
    return s
  }
  return HttpRouter.serve(routes(options.maxBodyBytes)).pipe(
    Layer.provide(
      Layer.succeed(ProxyDeadline, Duration.fromInputUnsafe(options.proxyTimeout ?? ProxyDeadline.defaultValue()))
    ),
    Layer.provideMerge(NodeHttpServer.layer(server, { host: options.host, port: options.port }))
  )
}

/** The bound address of the API server in context, as a base URL (`https` when it serves TLS). */
export const baseUrl = (scheme: "http" | "https" = "http") =>
  Effect.gen(function* () {
    const server = yield* HttpServer.HttpServer
    return NetAddress.formatUrlUnsafe(server.address, scheme)
  })
