import * as net from "node:net"
import * as nodeTls from "node:tls"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Logger, Option, Scope } from "effect"
import * as Frame from "../../src/runtime/Frame.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { eventually } from "./rack.ts"

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)
const localhost = { host: "127.0.0.1", port: 0 }
/** Every wait in this file is on an event, bounded. */
const bounded = <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.timeout(e, "2 seconds")

/** The `reason` of a transport failure, or the tag of anything else (e.g. a timeout). */
const reasonOf = (e: { readonly _tag: string }): string => ("reason" in e ? String(e.reason) : e._tag)
const failureReason = <A, E extends { readonly _tag: string }, R>(e: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(bounded(e)), reasonOf)

/** A rack CA with two nodes, another CA with a stranger, and a leaf of the rack CA binding no identity. */
const makePki = Effect.gen(function* () {
  const ca = yield* RackPki.makeRackCa()
  const other = yield* RackPki.makeRackCa("another rack")
  return {
    a: yield* RackPki.issueNodeCertificate(ca, "913:1"),
    b: yield* RackPki.issueNodeCertificate(ca, "913:2"),
    odd: yield* RackPki.issueNodeCertificate(ca, "913:a b:c/d"),
    stranger: yield* RackPki.issueNodeCertificate(other, "913:9"),
    anonymous: yield* RackPki.issueLeafCertificate(ca, { subject: "913:3", uris: [] }),
    malformed: yield* RackPki.issueLeafCertificate(ca, {
      subject: "913:4",
      uris: [`${RackPki.identityUriPrefix}nocolon`]
    })
  }
})

/** Records warnings; `first` completes with the first one. Provide `layer` around the whole test. */
const warnings = () => {
  const first = Deferred.makeUnsafe<string>()
  const lines: Array<string> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
    if (logLevel !== "Warn") return
    const line = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    lines.push(line)
    Deferred.doneUnsafe(first, Exit.succeed(line))
  })
  return { first, lines, layer: Logger.layer([logger]) }
}

/** A plain TLS client (not `Transport.tls`): "accepted" once the server accepted it, else why not. */
const rawTlsClient = (port: number, options: nodeTls.ConnectionOptions) =>
  Effect.callback<string>((resume) => {
    const socket = nodeTls.connect({ host: "127.0.0.1", port, checkServerIdentity: () => undefined, ...options })
    socket.once("session", () => resume(Effect.succeed("accepted")))
    socket.once("error", (e) => resume(Effect.succeed(`refused: ${e.message}`)))
    socket.once("close", () => resume(Effect.succeed("closed")))
    return Effect.sync(() => socket.destroy())
  })

/** A raw TCP or TLS socket that announces a frame of 2 GiB, closed with the test's scope. */
const announceOversize = (connect: () => net.Socket, ready: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const socket = connect()
      socket.on("error", () => {})
      socket.once(ready, () => setImmediate(() => socket.write(Uint8Array.of(0x7f, 0xff, 0xff, 0xff))))
      return socket
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

interface Case {
  readonly name: string
  readonly make: Effect.Effect<{
    readonly server: Transport.Transport
    readonly client: Transport.Transport
    /** Has a misbehaving peer send a frame over the limit to `address`. */
    readonly sendOversize: (address: Transport.Address) => Effect.Effect<unknown, unknown, Scope.Scope>
  }>
}

const cases: ReadonlyArray<Case> = [
  {
    name: "tcp",
    make: Effect.succeed({
      server: Transport.insecureTcp,
      client: Transport.insecureTcp,
      sendOversize: (address) => announceOversize(() => net.connect(address.port, address.host), "connect")
    })
  },
  {
    name: "tls",
    make: Effect.map(Effect.orDie(makePki), ({ a, b }) => ({
      server: Transport.tls(a),
      client: Transport.tls(b),
      sendOversize: (address: Transport.Address) =>
        announceOversize(
          () =>
            nodeTls.connect({
              host: address.host,
              port: address.port,
              key: b.keyPem,
              cert: b.certPem,
              ca: b.caPem,
              checkServerIdentity: () => undefined
            }),
          "session"
        )
    }))
  },
  {
    name: "memory",
    make: Effect.sync(() => {
      const network = Transport.makeMemoryNetwork()
      return {
        server: Transport.memory(network),
        client: Transport.memory(network),
        sendOversize: (address: Transport.Address) =>
          Effect.flatMap(network.dialUnchecked(address), (raw) => raw.write(new Uint8Array(Frame.maxPayloadBytes + 1)))
      }
    })
  }
]

/** Listens, dials, accepts. */
const connected = (server: Transport.Transport, client: Transport.Transport) =>
  Effect.gen(function* () {
    const listener = yield* server.listen(localhost)
    const conn = yield* client.dial(listener.address)
    const accepted = yield* bounded(listener.accept)
    return { listener, conn, accepted }
  })

describe("Transport", () => {
  for (const c of cases) {
    describe(c.name, () => {
      it.live("frames round-trip whole and in order, empty and maximal ones included", () =>
        Effect.gen(function* () {
          const { server, client } = yield* c.make
          const { listener, conn, accepted } = yield* connected(server, client)
          assert.notStrictEqual(listener.address.port, 0)
          const sent = [
            bytes("ping"),
            new Uint8Array(0),
            new Uint8Array(20_000).fill(9),
            new Uint8Array(Frame.maxPayloadBytes).fill(3),
            bytes("end")
          ]
          for (const payload of sent) yield* conn.write(payload)
          for (const payload of sent) {
            const got = yield* bounded(accepted.read)
            assert.isTrue(same(got, payload), `a payload of ${payload.length} bytes`)
            yield* accepted.write(got)
          }
          for (const payload of sent) assert.isTrue(same(yield* bounded(conn.read), payload))
        })
      )

      it.live("each side knows the connection's direction, addresses and a process-unique id", () =>
        Effect.gen(function* () {
          const { server, client } = yield* c.make
          const { listener, conn, accepted } = yield* connected(server, client)
          assert.strictEqual(conn.direction, "outbound")
          assert.strictEqual(accepted.direction, "inbound")
          assert.notStrictEqual(conn.id, accepted.id)
          assert.strictEqual(conn.remoteAddress, Transport.formatAddress(listener.address))
          assert.strictEqual(accepted.localAddress, Transport.formatAddress(listener.address))
          assert.strictEqual(accepted.remoteAddress, conn.localAddress)
          const second = yield* client.dial(listener.address)
          assert.isAbove(second.id, conn.id)
        })
      )

      it.live("the peer closing fails read with Eof once the frames it sent are read", () =>
        Effect.gen(function* () {
          const { server, client } = yield* c.make
          const { conn, accepted } = yield* connected(server, client)
          yield* conn.write(bytes("last words"))
          yield* conn.destroy
          assert.strictEqual(text(yield* bounded(accepted.read)), "last words")
          const error = yield* Effect.flip(bounded(accepted.read))
          assert.strictEqual(reasonOf(error), "Eof")
          assert.match(error.message, /closed by the peer/)
        })
      )

      it.live("destroy fails the peer's pending read, and this side's reads and writes with Closed", () =>
        Effect.gen(function* () {
          const { server, client } = yield* c.make
          const { conn, accepted } = yield* connected(server, client)
          const pending = yield* Effect.forkChild(accepted.read, { startImmediately: true })
          yield* conn.destroy
          assert.include(["Eof", "Reset"], yield* failureReason(Fiber.join(pending)))
          assert.strictEqual(yield* failureReason(conn.read), "Closed")
          assert.strictEqual(yield* failureReason(conn.write(bytes("too late"))), "Closed")
          assert.include(["Eof", "Reset"], yield* failureReason(accepted.write(bytes("too late"))))
        })
      )

      it.live(
        "an oversize frame from a raw peer fails that connection with FrameTooLarge; the listener keeps accepting",
        () =>
          Effect.gen(function* () {
            const { server, client, sendOversize } = yield* c.make
            const listener = yield* server.listen(localhost)
            yield* sendOversize(listener.address)
            const victim = yield* bounded(listener.accept)
            const error = yield* Effect.flip(bounded(victim.read))
            assert.strictEqual(reasonOf(error), "FrameTooLarge")
            assert.match(error.message, /over the limit of 1048572/)
            const conn = yield* client.dial(listener.address)
            const next = yield* bounded(listener.accept)
            yield* conn.write(bytes("still here"))
            assert.strictEqual(text(yield* bounded(next.read)), "still here")
          })
      )

      it.live("the sender refuses a payload over the limit and the connection stays usable", () =>
        Effect.gen(function* () {
          const { server, client } = yield* c.make
          const { conn, accepted } = yield* connected(server, client)
          const error = yield* Effect.flip(conn.write(new Uint8Array(Frame.maxPayloadBytes + 1)))
          assert.strictEqual(reasonOf(error), "FrameTooLarge")
          assert.match(error.message, /refused to send a payload of 1048573 bytes.*still usable/)
          yield* conn.write(bytes("after"))
          assert.strictEqual(text(yield* bounded(accepted.read)), "after")
        })
      )

      it.live("closing the listener's scope destroys what it accepted and fails accept with ListenerClosed", () =>
        Effect.gen(function* () {
          const { server, client } = yield* c.make
          const scope = yield* Scope.make()
          const listener = yield* server.listen(localhost).pipe(Scope.provide(scope))
          const conn = yield* client.dial(listener.address)
          const accepted = yield* bounded(listener.accept)
          yield* Scope.close(scope, Exit.void)
          assert.strictEqual(yield* failureReason(accepted.read), "Closed")
          assert.include(["Eof", "Reset"], yield* failureReason(conn.read))
          assert.strictEqual(yield* failureReason(listener.accept), "ListenerClosed")
          assert.strictEqual(yield* failureReason(client.dial(listener.address)), "DialFailed")
        })
      )

      it.live("closing the dialer's scope destroys the dialed connection", () =>
        Effect.gen(function* () {
          const { server, client } = yield* c.make
          const listener = yield* server.listen(localhost)
          const scope = yield* Scope.make()
          const conn = yield* client.dial(listener.address).pipe(Scope.provide(scope))
          const accepted = yield* bounded(listener.accept)
          yield* Scope.close(scope, Exit.void)
          assert.strictEqual(yield* failureReason(conn.read), "Closed")
          assert.include(["Eof", "Reset"], yield* failureReason(accepted.read))
        })
      )

      it.live("listening on an address in use fails with ListenFailed", () =>
        Effect.gen(function* () {
          const { server } = yield* c.make
          const listener = yield* server.listen(localhost)
          const error = yield* Effect.flip(server.listen(listener.address))
          assert.strictEqual(error.reason, "ListenFailed")
          assert.include(error.message, Transport.formatAddress(listener.address))
        })
      )
    })
  }

  describe("tcp", () => {
    it.live("a writer whose peer does not read suspends, and resumes when the peer reads", () =>
      Effect.gen(function* () {
        const { conn, accepted } = yield* connected(Transport.insecureTcp, Transport.insecureTcp)
        const big = new Uint8Array(Frame.maxPayloadBytes).fill(5)
        // Kernel buffers hold a few MiB on loopback; the writer must stop long before 64 MiB.
        let written = 0
        let blocked: Fiber.Fiber<void, unknown> | undefined
        while (blocked === undefined && written < 64) {
          const fiber = yield* Effect.forkChild(conn.write(big), { startImmediately: true })
          const done = yield* Effect.timeoutOption(Fiber.join(fiber), "200 millis")
          if (done._tag === "None") blocked = fiber
          else written++
        }
        assert.isDefined(blocked)
        assert.isBelow(written, 64)
        for (let i = 0; i <= written; i++) assert.isTrue(same(yield* bounded(accepted.read), big))
        if (blocked !== undefined) yield* bounded(Fiber.join(blocked))
      })
    )
  })

  describe("tls", () => {
    it.live("mutual authentication: each side learns the other's identity from its verified certificate", () =>
      Effect.gen(function* () {
        const { a, odd } = yield* makePki
        const { conn, accepted } = yield* connected(Transport.tls(a), Transport.tls(odd))
        assert.deepStrictEqual(conn.peerIdentity, Option.some("913:1"))
        assert.deepStrictEqual(accepted.peerIdentity, Option.some("913:a b:c/d"))
      })
    )

    it.live("a client without a certificate is refused and logged; the next good client is the one accepted", () => {
      const log = warnings()
      return Effect.gen(function* () {
        const { a, b } = yield* makePki
        const listener = yield* Transport.tls(a).listen(localhost)
        assert.match(yield* bounded(rawTlsClient(listener.address.port, { ca: a.caPem })), /^refused: .*certificate/)
        assert.match(
          yield* bounded(Deferred.await(log.first)),
          /TLS refused the connection with 127\.0\.0\.1:\d+: .*CERTIFICATE/
        )
        yield* Transport.tls(b).dial(listener.address)
        assert.deepStrictEqual((yield* bounded(listener.accept)).peerIdentity, Option.some("913:2"))
      }).pipe(Effect.provide(log.layer))
    })

    it.live(
      "unauthenticated connections are bounded: the excess is closed at once, the rest at the handshake deadline",
      () => {
        const log = warnings()
        return Effect.gen(function* () {
          const { a, b } = yield* makePki
          const gate = new Transport.PreAuthGate(2)
          const listener = yield* Transport.tls(a).listen(localhost, { gate, handshakeTimeout: "500 millis" })
          /** A TCP connection that never starts its handshake; completes when the listener closes it. */
          const silent = Effect.callback<number>((resume) => {
            const socket = net.connect(listener.address.port, "127.0.0.1")
            socket.on("error", () => undefined)
            socket.on("close", () => resume(Clock.currentTimeMillis))
            return Effect.sync(() => socket.destroy())
          })
          const started = yield* Clock.currentTimeMillis
          const [first, second] = yield* Effect.all(
            [silent, silent].map((s) => Effect.forkChild(s, { startImmediately: true }))
          )
          yield* eventually(
            Effect.sync(() => gate.pending),
            (n) => n === 2
          )
          const excess = yield* bounded(silent)
          // The third was closed long before the first two reached their deadline.
          assert.isBelow(excess - started, 400)
          assert.match(
            yield* bounded(Deferred.await(log.first)),
            /^refused a connection at once: 2 connections are already unauthenticated$/
          )
          const [closedFirst = 0, closedSecond = 0] = yield* bounded(
            Effect.all([first, second].map((f) => Fiber.join(f)))
          )
          assert.isAtLeast(Math.min(closedFirst, closedSecond) - started, 450)
          // The listener frees their slots once it has seen them close.
          yield* eventually(
            Effect.sync(() => gate.pending),
            (n) => n === 0
          )
          // With the slots free again, a real peer gets in.
          yield* Transport.tls(b).dial(listener.address)
          assert.deepStrictEqual((yield* bounded(listener.accept)).peerIdentity, Option.some("913:2"))
        }).pipe(Effect.provide(log.layer))
      }
    )

    it.live("a client with a certificate from another CA is refused: its dial fails with TlsRefused", () => {
      const log = warnings()
      return Effect.gen(function* () {
        const { a, b, stranger } = yield* makePki
        const listener = yield* Transport.tls(a).listen(localhost)
        // The stranger trusts our CA, so only the server's check of its certificate can refuse it.
        const error = yield* Effect.flip(bounded(Transport.tls({ ...stranger, caPem: a.caPem }).dial(listener.address)))
        assert.strictEqual(reasonOf(error), "TlsRefused")
        assert.match(yield* bounded(Deferred.await(log.first)), /TLS refused/)
        yield* Transport.tls(b).dial(listener.address)
        assert.deepStrictEqual((yield* bounded(listener.accept)).peerIdentity, Option.some("913:2"))
      }).pipe(Effect.provide(log.layer))
    })

    it.live("a server with a certificate from another CA is refused by the client with TlsRefused", () => {
      const log = warnings()
      return Effect.gen(function* () {
        const { b, stranger } = yield* makePki
        const listener = yield* Transport.tls({ ...stranger, caPem: b.caPem }).listen(localhost)
        const error = yield* Effect.flip(bounded(Transport.tls(b).dial(listener.address)))
        assert.strictEqual(reasonOf(error), "TlsRefused")
        assert.match(error.message, /certificate/)
        assert.isTrue(log.lines.some((line) => line.includes("TLS refused the connection")))
      }).pipe(Effect.provide(log.layer))
    })

    it.live("TLS 1.2 is refused in both directions", () => {
      const log = warnings()
      return Effect.gen(function* () {
        const { a, b } = yield* makePki
        const listener = yield* Transport.tls(a).listen(localhost)
        const old = { key: b.keyPem, cert: b.certPem, ca: b.caPem, maxVersion: "TLSv1.2" } as const
        assert.match(yield* bounded(rawTlsClient(listener.address.port, old)), /^refused: .*(protocol version|alert)/i)
        assert.match(yield* bounded(Deferred.await(log.first)), /UNSUPPORTED_PROTOCOL/)
        const server = nodeTls.createServer({ ...old, key: a.keyPem, cert: a.certPem, requestCert: true })
        yield* Effect.acquireRelease(
          Effect.callback<void>((resume) => {
            server.listen(0, "127.0.0.1", () => resume(Effect.void))
          }),
          () => Effect.sync(() => server.close())
        )
        const info = server.address()
        const port = typeof info === "object" && info !== null ? info.port : 0
        const error = yield* Effect.flip(bounded(Transport.tls(b).dial({ host: "127.0.0.1", port })))
        assert.strictEqual(reasonOf(error), "TlsRefused")
      }).pipe(Effect.provide(log.layer))
    })

    it.live("a server whose certificate from the rack CA binds no valid identity is refused", () =>
      Effect.gen(function* () {
        const { b, anonymous, malformed } = yield* makePki
        for (const credentials of [anonymous, malformed]) {
          const listener = yield* Transport.tls(credentials).listen(localhost)
          const error = yield* Effect.flip(bounded(Transport.tls(b).dial(listener.address)))
          assert.strictEqual(reasonOf(error), "TlsRefused")
          assert.match(error.message, /node identity/)
        }
      }).pipe(Effect.provide(warnings().layer))
    )

    it.live("a client whose certificate from the rack CA binds no valid identity is refused and logged", () => {
      const log = warnings()
      return Effect.gen(function* () {
        const { a, b, malformed } = yield* makePki
        const listener = yield* Transport.tls(a).listen(localhost)
        // The handshake itself succeeds (the chain is valid), so the client may see its dial succeed and
        // the connection closed at once, or TlsRefused; either way it never gets a frame through.
        const outcome = yield* Effect.exit(
          bounded(Effect.flatMap(Transport.tls(malformed).dial(listener.address), (conn) => conn.read))
        )
        assert.isTrue(Exit.isFailure(outcome))
        assert.match(yield* bounded(Deferred.await(log.first)), /node identity is malformed/)
        yield* Transport.tls(b).dial(listener.address)
        assert.deepStrictEqual((yield* bounded(listener.accept)).peerIdentity, Option.some("913:2"))
      }).pipe(Effect.provide(log.layer))
    })
  })

  describe("memory", () => {
    it.effect("works on virtual time: deterministic addresses, echo, and Eof, without real I/O", () =>
      Effect.gen(function* () {
        const network = Transport.makeMemoryNetwork()
        const transport = Transport.memory(network)
        const listener = yield* transport.listen({ host: "10.0.0.1", port: 0 })
        assert.deepStrictEqual(listener.address, { host: "10.0.0.1", port: 40000 })
        const conn = yield* transport.dial(listener.address)
        assert.strictEqual(conn.localAddress, "memory:40001")
        assert.deepStrictEqual(conn.peerIdentity, Option.none())
        const accepted = yield* listener.accept
        yield* conn.write(bytes("hello"))
        yield* accepted.write(yield* accepted.read)
        assert.strictEqual(text(yield* conn.read), "hello")
        yield* accepted.destroy
        assert.strictEqual(yield* Effect.map(Effect.flip(conn.read), reasonOf), "Eof")
      })
    )

    it.effect("a writer beyond the capacity suspends until the reader takes a frame", () =>
      Effect.gen(function* () {
        const transport = Transport.memory(Transport.makeMemoryNetwork({ capacity: 2 }))
        const listener = yield* transport.listen({ host: "10.0.0.1", port: 7 })
        const conn = yield* transport.dial(listener.address)
        const accepted = yield* listener.accept
        yield* conn.write(bytes("1"))
        yield* conn.write(bytes("2"))
        const third = yield* Effect.forkChild(conn.write(bytes("3")), { startImmediately: true })
        yield* Effect.yieldNow
        assert.isUndefined(third.pollUnsafe())
        assert.strictEqual(text(yield* accepted.read), "1")
        yield* Fiber.join(third)
        assert.strictEqual(text(yield* accepted.read), "2")
        assert.strictEqual(text(yield* accepted.read), "3")
      })
    )

    it.effect("a writer blocked on a full peer fails when the peer is destroyed", () =>
      Effect.gen(function* () {
        const transport = Transport.memory(Transport.makeMemoryNetwork({ capacity: 1 }))
        const listener = yield* transport.listen({ host: "10.0.0.1", port: 7 })
        const conn = yield* transport.dial(listener.address)
        const accepted = yield* listener.accept
        yield* conn.write(bytes("1"))
        const blocked = yield* Effect.forkChild(conn.write(bytes("2")), { startImmediately: true })
        yield* accepted.destroy
        assert.strictEqual(yield* Effect.map(Effect.flip(Fiber.join(blocked)), reasonOf), "Eof")
      })
    )

    it.effect("dialling an address nobody listens on fails with DialFailed", () =>
      Effect.gen(function* () {
        const transport = Transport.memory(Transport.makeMemoryNetwork())
        const error = yield* Effect.flip(transport.dial({ host: "10.0.0.1", port: 1 }))
        assert.strictEqual(error.reason, "DialFailed")
        assert.strictEqual(
          error.message,
          "cannot connect to 10.0.0.1:1: nothing listens there; the peer may be down, retry later"
        )
      })
    )
  })
})
