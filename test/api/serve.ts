/**
 * Serves a running node's HTTP API on a free loopback port for the duration of the test's scope and
 * returns its base URL.
 */
import { Effect, Layer } from "effect"
import * as NodeApiServer from "../../src/api/NodeApiServer.ts"
import * as TrustQuorumNode from "../../src/runtime/TrustQuorumNode.ts"

export const serveApi = (node: TrustQuorumNode.TrustQuorumNodeShape) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      NodeApiServer.layer({ host: "127.0.0.1", port: 0 }).pipe(
        Layer.provide(Layer.succeed(TrustQuorumNode.TrustQuorumNode, node))
      )
    )
    return yield* NodeApiServer.baseUrl.pipe(Effect.provide(context))
  })
