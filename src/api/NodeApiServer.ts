/**
 * Serves the node HTTP API (`NodeApi`) for a running `TrustQuorumNode`, on its own address (the
 * underlay), separate from the peer port. `layer({ host, port })` serves it for the layer's lifetime;
 * the OpenAPI document is at `/openapi.json`. Handlers only translate: every decision is the node's.
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import * as NetAddress from "effect/net/NetAddress"
import { TrustQuorumNode } from "../runtime/TrustQuorumNode.ts"
import { NodeApi, NotCoordinating, type RackSecretStatus } from "./NodeApi.ts"

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
      commit: ({ payload }) => node.commit(payload.rackId, payload.epoch),
      prepareAndCommit: ({ payload }) => node.prepareAndCommit(payload.config),
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
        node.proxy.commit(payload.destination, payload.request.rackId, payload.request.epoch),
      proxyPrepareAndCommit: ({ payload }) => node.proxy.prepareAndCommit(payload.destination, payload.request.config),
      proxyStatus: ({ payload }) => node.proxy.status(payload.destination)
    })
  })
)

/** The API's routes, with `/openapi.json`. A body that does not decode answers 400. */
export const routes = HttpApiBuilder.layer(NodeApi, { openapiPath: "/openapi.json" }).pipe(Layer.provide(handlers))

/** Serves the API on `host:port` (port 0 picks a free port; read it from `HttpServer.HttpServer`'s address). */
export const layer = (options: { readonly host: string; readonly port: number }) =>
  HttpRouter.serve(routes).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, options)))

/** The bound address of the API server in context, as a base URL. */
export const baseUrl = Effect.gen(function* () {
  const { address } = yield* HttpServer.HttpServer
  return NetAddress.formatUrlUnsafe(address, "http")
})
