/**
 * Serves a running node's HTTP API on a free loopback port for the duration of the test's scope and
 * returns its base URL.
 */
import { Effect, Layer } from "effect"
import * as NodeApiServer from "../../src/api/NodeApiServer.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../../src/runtime/TrustQuorumNode.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { authority, sled } from "../runtime/rack.ts"

export const serveApi = (
  node: TrustQuorumNode.TrustQuorumNodeShape,
  options: Omit<NodeApiServer.ServeOptions, "host" | "port"> = {}
) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      NodeApiServer.layer({ host: "127.0.0.1", port: 0, ...options }).pipe(
        Layer.provide(Layer.succeed(TrustQuorumNode.TrustQuorumNode, node))
      )
    )
    return yield* NodeApiServer.baseUrl(options.tls === undefined ? "http" : "https").pipe(Effect.provide(context))
  })

/** A lone node (sled 0, in-memory network and ledger, `config` overriding) serving its API; returns the URL. */
export const serveLoneNode = (config: Partial<TrustQuorumNode.TrustQuorumNodeConfig<Ledger.LoadError>> = {}) =>
  Effect.gen(function* () {
    const network = Transport.makeMemoryNetwork()
    const node = yield* TrustQuorumNode.make({
      id: sled(0),
      listen: { host: "127.0.0.1", port: 0 },
      transport: network.transport,
      authority: authority.publicKey,
      ledger: Ledger.memory<PersistentState>(),
      ...config
    })
    return yield* serveApi(node)
  })
