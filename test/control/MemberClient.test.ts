import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as MemberClient from "../../src/control/MemberClient.ts"
import { freePort } from "../../src/testing/ProcessRack.ts"
import { Epoch } from "../../src/types/Epoch.ts"
import { serveLoneNode } from "../api/serve.ts"
import { rackId } from "../runtime/rack.ts"
import { tcpServer } from "../runtime/rawPeer.ts"

describe("MemberClient.fromHttp", () => {
  it.live("talks to a node's API", () =>
    Effect.gen(function* () {
      const client = yield* MemberClient.fromHttp(yield* serveLoneNode())
      assert.isTrue(Option.isNone(yield* client.coordinatorStatus))
      const refused = yield* Effect.flip(client.commit(rackId, Epoch.make(1), new Uint8Array(64)))
      assert.strictEqual(refused._tag, "NotPrepared")
    })
  )

  it.live("a port where nothing listens fails with Unreachable", () =>
    Effect.gen(function* () {
      const client = yield* MemberClient.fromHttp(`http://127.0.0.1:${yield* freePort}`)
      const error = yield* Effect.flip(client.commit(rackId, Epoch.make(1), new Uint8Array(64)))
      assert.strictEqual(error._tag, "Unreachable")
    })
  )

  it.live("a server that never answers fails with RequestTimeout after the timeout", () =>
    Effect.gen(function* () {
      // A server that accepts connections and never answers.
      const { port } = yield* tcpServer()
      const client = yield* MemberClient.fromHttp(`http://127.0.0.1:${port}`, { timeout: "200 millis" })
      const error = yield* Effect.flip(client.coordinatorStatus).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(error._tag, "RequestTimeout")
      assert.match(error.message, /did not answer within/)
    })
  )
})
