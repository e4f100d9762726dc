import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const localhost = { host: "127.0.0.1", port: 0 }
const bounded = <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.timeout(e, "5 seconds")

/** Two TLS transports under one CA, and one under another CA. */
const pki = Effect.gen(function* () {
  const ca = yield* RackPki.makeRackCa()
  const other = yield* RackPki.makeRackCa("another rack")
  const a = yield* RackPki.issueNodeCertificate(ca, "913:1")
  const b = yield* RackPki.issueNodeCertificate(ca, "913:2")
  const stranger = yield* RackPki.issueNodeCertificate(other, "913:9")
  return { a, b, stranger }
})

const echoRoundTrip = (server: Transport.Transport, client: Transport.Transport) =>
  Effect.gen(function* () {
    const listener = yield* server.listen(localhost)
    const conn = yield* client.dial(listener.address)
    const accepted = yield* bounded(listener.accept)
    yield* conn.write(bytes("ping"))
    assert.strictEqual(text(yield* bounded(accepted.read)), "ping")
    yield* accepted.write(bytes("pong"))
    assert.strictEqual(text(yield* bounded(conn.read)), "pong")
    return { conn, accepted }
  })

describe("Transport", () => {
  for (const [name, make] of [
    ["tcp", () => Effect.succeed({ server: Transport.tcp, client: Transport.tcp })],
    ["tls", () => Effect.map(pki, ({ a, b }) => ({ server: Transport.tls13(a), client: Transport.tls13(b) }))],
    [
      "memory",
      () => {
        const network = Transport.memoryNetwork()
        return Effect.succeed({ server: network.transport, client: network.transport })
      }
    ]
  ] as const) {
    it.live(`${name}: frames round-trip, and the peer closing ends the other side's read`, () =>
      Effect.gen(function* () {
        const { server, client } = yield* make()
        const { conn, accepted } = yield* echoRoundTrip(server, client)
        yield* conn.destroy
        const exit = yield* Effect.exit(bounded(accepted.read))
        assert.isTrue(Exit.isFailure(exit))
      })
    )
  }

  it.live("tcp: a peer announcing an oversize frame fails that connection; the listener keeps accepting", () =>
    Effect.gen(function* () {
      const listener = yield* Transport.tcp.listen(localhost)
      const raw = net.connect(listener.address.port, "127.0.0.1")
      yield* Effect.addFinalizer(() => Effect.sync(() => raw.destroy()))
      const accepted = yield* bounded(listener.accept)
      raw.write(Uint8Array.of(0x7f, 0xff, 0xff, 0xff))
      const error = yield* Effect.flip(bounded(accepted.read))
      assert.isTrue(error._tag === "ConnError" && error.reason === "FrameTooLarge")
      const second = yield* Transport.tcp.dial(listener.address)
      const next = yield* bounded(listener.accept)
      yield* second.write(bytes("still here"))
      assert.strictEqual(text(yield* bounded(next.read)), "still here")
    })
  )

  it.live("tls: each side learns the other's identity from its verified certificate", () =>
    Effect.gen(function* () {
      const { a, b } = yield* pki
      const { conn, accepted } = yield* echoRoundTrip(Transport.tls13(a), Transport.tls13(b))
      assert.deepStrictEqual(conn.peerIdentity, Option.some("913:1"))
      assert.deepStrictEqual(accepted.peerIdentity, Option.some("913:2"))
    })
  )

  it.live("tls: a client with a certificate from another CA is refused", () =>
    Effect.gen(function* () {
      const { a, stranger } = yield* pki
      const listener = yield* Transport.tls13(a).listen(localhost)
      // The client does trust our CA, so it may think it connected; the server refuses its certificate.
      const strangerTrustingUs = Transport.tls13({ ...stranger, caPem: a.caPem })
      const dialed = yield* Effect.exit(
        Effect.flatMap(strangerTrustingUs.dial(listener.address), (c) => bounded(c.read))
      )
      assert.isTrue(Exit.isFailure(dialed))
      const nothing = yield* Effect.exit(Effect.timeout(listener.accept, "300 millis"))
      assert.isTrue(Exit.isFailure(nothing))
    })
  )

  it.live("tls: a server with a certificate from another CA is refused by the client", () =>
    Effect.gen(function* () {
      const { b, stranger } = yield* pki
      const listener = yield* Transport.tls13({ ...stranger, caPem: b.caPem }).listen(localhost)
      const error = yield* Effect.flip(bounded(Transport.tls13(b).dial(listener.address)))
      assert.strictEqual(error._tag, "TransportError")
    })
  )

  it.live("tls: a client without a certificate, and a TLS 1.2 client, are refused", () =>
    Effect.gen(function* () {
      const { a } = yield* pki
      const listener = yield* Transport.tls13(a).listen(localhost)
      const tls = yield* Effect.promise(() => import("node:tls"))
      const attempt = (options: import("node:tls").ConnectionOptions) =>
        Effect.callback<string>((resume) => {
          const socket = tls.connect({
            host: "127.0.0.1",
            port: listener.address.port,
            ca: a.caPem,
            checkServerIdentity: () => undefined,
            ...options
          })
          socket.on("data", () => resume(Effect.succeed("data")))
          socket.on("error", (e) => resume(Effect.succeed(`error: ${e.message}`)))
          socket.on("close", () => resume(Effect.succeed("closed")))
          return Effect.sync(() => socket.destroy())
        })
      const noCert = yield* bounded(attempt({}))
      assert.notStrictEqual(noCert, "data")
      const old = yield* bounded(attempt({ key: a.keyPem, cert: a.certPem, maxVersion: "TLSv1.2" }))
      assert.match(old, /error/)
      const nothing = yield* Effect.exit(Effect.timeout(listener.accept, "300 millis"))
      assert.isTrue(Exit.isFailure(nothing))
    })
  )

  it.live("memory: dialling an address nobody listens on fails with DialFailed", () =>
    Effect.gen(function* () {
      const { transport } = Transport.memoryNetwork()
      const error = yield* Effect.flip(transport.dial({ host: "127.0.0.1", port: 1 }))
      assert.isTrue(error._tag === "TransportError" && error.reason === "DialFailed")
    })
  )
})

describe("RackPki", () => {
  it.effect("issues certificates that parse and bind the identity, for many random serials", () =>
    Effect.gen(function* () {
      const { X509Certificate } = yield* Effect.promise(() => import("node:crypto"))
      const ca = yield* RackPki.makeRackCa()
      const caCert = new X509Certificate(ca.certPem)
      assert.isTrue(caCert.ca)
      for (let i = 0; i < 64; i++) {
        const node = yield* RackPki.issueNodeCertificate(ca, `913:${i}`)
        const cert = new X509Certificate(node.certPem)
        assert.isTrue(cert.verify(caCert.publicKey))
        assert.isTrue(cert.checkIssued(caCert))
        assert.strictEqual(RackPki.identityOf(cert), `913:${i}`)
      }
    })
  )
})
