/**
 * A replayed handshake is refused: an eavesdropper records every byte a legitimate peer sends while it
 * completes mutual TLS with a node, then opens its own connection and sends those bytes again. TLS 1.3
 * binds the client's certificate proof to the server's fresh random, so the node refuses the replay,
 * logs why, closes the connection and never creates a link for it.
 */
import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Logger, References } from "effect"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../../src/runtime/TrustQuorumNode.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { authority, sled } from "../runtime/rack.ts"
import { sendUntilClosed, tcpServer } from "../runtime/rawPeer.ts"

/** A relay to `port` that records every byte its clients send, in order. */
const recorder = (port: number) => {
  const recorded: Array<Buffer> = []
  return Effect.map(
    tcpServer((client) => {
      const upstream = net.connect(port, "127.0.0.1")
      upstream.on("error", () => undefined)
      client.on("data", (d: Buffer) => {
        recorded.push(Buffer.from(d))
        upstream.write(d)
      })
      upstream.on("data", (d: Buffer) => client.write(d))
      client.on("close", () => upstream.destroy())
      upstream.on("close", () => client.destroy())
    }),
    ({ port }) => ({ port, recorded })
  )
}

describe("replayed handshake", () => {
  it.live("the bytes of a legitimate peer's TLS handshake, sent again, are refused and never become a link", () => {
    const lines: Array<string> = []
    const refused = Deferred.makeUnsafe<void>()
    const capture = Logger.make((options) => {
      const line = String(Logger.formatSimple.log(options))
      lines.push(line)
      if (line.includes("TLS refused")) Deferred.doneUnsafe(refused, Effect.void)
    })
    return Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const node = yield* TrustQuorumNode.make({
        id: sled(1),
        listen: { host: "127.0.0.1", port: 0 },
        transport: Transport.tls(yield* RackPki.issueNodeCertificate(ca, String(sled(1)))),
        authority: authority.publicKey,
        ledger: Ledger.memory<PersistentState>()
      })
      const tap = yield* recorder(node.listenAddress.port)
      // The legitimate peer completes mutual TLS through the recorder, then goes away.
      const peer = Transport.tls(yield* RackPki.issueNodeCertificate(ca, String(sled(2))))
      yield* Effect.scoped(peer.dial({ host: "127.0.0.1", port: tap.port }))
      assert.isAbove(tap.recorded.length, 0)
      const before = lines.filter((l) => l.includes("TLS refused")).length

      const outcome = yield* sendUntilClosed(node.listenAddress.port, Buffer.concat(tap.recorded))
      assert.strictEqual(outcome, "closed")
      yield* Deferred.await(refused).pipe(Effect.timeout("5 seconds"))
      assert.isAbove(lines.filter((l) => l.includes("TLS refused")).length, before)
      assert.deepStrictEqual(yield* node.connections, [])
    }).pipe(Effect.provide(Layer.mergeAll(Logger.layer([capture]), Layer.succeed(References.MinimumLogLevel, "Debug"))))
  })
})
