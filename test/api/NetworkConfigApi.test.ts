import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { NodeApi } from "../../src/api/NodeApi.ts"
import * as Decision from "../../src/types/Decision.ts"
import { maxBlobBytes, NetworkConfig } from "../../src/types/NetworkConfig.ts"
import { authority, rackId } from "../runtime/rack.ts"
import { serveLoneNode } from "./serve.ts"

const signed = (generation: number, blob: Uint8Array = new TextEncoder().encode(`gen ${generation}`)) =>
  Decision.networkConfig(authority, { rackId, generation, blob })

const post = (url: string, config: NetworkConfig) =>
  Effect.promise(async () => {
    const body = JSON.stringify(Schema.encodeSync(Schema.toCodecJson(NetworkConfig))(config))
    const response = await fetch(`${url}/network-config`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" }
    })
    const text = await response.text()
    return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
  })

describe("node HTTP API: /network-config", () => {
  it.live("reads and replaces the network config, with typed refusals mapped to statuses", () =>
    Effect.gen(function* () {
      const url = yield* serveLoneNode()
      const client = yield* HttpApiClient.make(NodeApi, { baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer))

      const none = yield* Effect.flip(client.networkConfig())
      assert.strictEqual(none._tag, "NoNetworkConfig")
      assert.strictEqual((yield* client.status()).networkConfig, undefined)

      yield* client.updateNetworkConfig({ payload: signed(2) })
      const held = yield* client.networkConfig()
      assert.strictEqual(held.generation, 2)
      assert.strictEqual(new TextDecoder().decode(held.blob), "gen 2")
      assert.deepStrictEqual(held.signature, signed(2).signature)
      assert.deepStrictEqual((yield* client.status()).networkConfig?.generation, 2)

      const stale = yield* Effect.flip(client.updateNetworkConfig({ payload: signed(2) }))
      assert.strictEqual(stale._tag, "StaleNetworkConfig")

      // The status codes and bodies on the wire.
      assert.deepStrictEqual(yield* post(url, signed(1)), {
        status: 409,
        body: { _tag: "StaleNetworkConfig", attemptedGeneration: 1, currentGeneration: 2 }
      })
      const forged = new NetworkConfig({ ...signed(3), signature: new Uint8Array(64).fill(7) })
      assert.deepStrictEqual(yield* post(url, forged), {
        status: 403,
        body: { _tag: "NetworkConfigNotAuthorized", generation: 3, reason: "Signature" }
      })
      assert.deepStrictEqual(yield* post(url, signed(3, new Uint8Array(maxBlobBytes + 1))), {
        status: 413,
        body: { _tag: "NetworkConfigTooLarge", bytes: maxBlobBytes + 1, limit: maxBlobBytes }
      })
      assert.deepStrictEqual(yield* post(url, signed(3)), { status: 204, body: undefined })
      assert.strictEqual((yield* client.networkConfig()).generation, 3)
      const openapi = yield* Effect.promise(() => fetch(`${url}/openapi.json`).then((r) => r.text()))
      assert.include(openapi, `"/network-config"`)
    })
  )
})
