/**
 * omicron's trust-quorum integration scenarios, over real sockets on 127.0.0.1 (mutual TLS unless
 * noted) with file ledgers in a temporary directory; every wait is on an observed state, bounded.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Result } from "effect"
import * as Frame from "../../src/runtime/Frame.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../../src/runtime/TrustQuorumNode.ts"
import * as PersistentStateModule from "../../src/types/PersistentState.ts"
import { PersistentState } from "../../src/types/PersistentState.ts"
import { captureLogs } from "./logs.ts"
import {
  authority,
  connected,
  eventually,
  mesh,
  proofOf,
  rackId,
  reconfigureMsg,
  restartable,
  secrets,
  sled
} from "./rack.ts"
import { helloFrame, holdOpen, sendUntilClosed, tcpServer } from "./rawPeer.ts"
import { tempDir } from "./tempDir.ts"

/** A rack of `n` restartable TLS nodes with two file-ledger copies each. */
const tlsRack = (n: number) =>
  Effect.gen(function* () {
    const dir = yield* tempDir("scenario")
    const ca = yield* RackPki.makeRackCa()
    return yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) =>
        Effect.gen(function* () {
          const creds = yield* RackPki.issueNodeCertificate(ca, String(sled(i)))
          const ledger = Ledger.file({
            paths: [join(dir, `node${i}-a.json`), join(dir, `node${i}-b.json`)],
            schema: PersistentState
          })
          return yield* restartable(i, Transport.tls(creds), ledger)
        })
    )
  })

const initialConfig = (
  nodes: ReadonlyArray<{ readonly node: TrustQuorumNode.TrustQuorumNodeShape }>,
  members: ReadonlyArray<number>
) =>
  Effect.gen(function* () {
    const coordinator = nodes[0]?.node
    if (coordinator === undefined) throw new Error("no nodes")
    yield* coordinator.reconfigure(reconfigureMsg(1, members, 3, null, coordinator.id))
    const status = yield* eventually(
      coordinator.coordinatorStatus,
      (s) => Option.isSome(s) && s.value.ackedPrepares.length >= members.length - (members.length - nodes.length)
    )
    return Option.getOrThrow(status)
  })

describe("scenarios over mutual TLS", () => {
  it.live("full mesh: one link per pair; survivors notice a stopped node; a restarted node on a new port rejoins", () =>
    Effect.gen(function* () {
      const nodes = yield* tlsRack(4)
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      for (const n of nodes) {
        const links = yield* n.node.connections
        assert.strictEqual(links.length, 3, `node ${n.node.id} has ${links.length} links`)
      }
      const [a, b, c, last] = nodes
      if (!a || !b || !c || !last) throw new Error("nodes")
      const oldPort = last.node.listenAddress.port
      yield* last.stop
      yield* connected([a, b, c], 2)
      yield* last.start
      assert.notStrictEqual(last.node.listenAddress.port, oldPort)
      yield* mesh(nodes)
      yield* connected(nodes, 3)
    })
  )

  it.live("initial configuration: 4 nodes, K=3 — 4 prepare acks, commit everywhere, equal secrets", () =>
    Effect.gen(function* () {
      const nodes = yield* tlsRack(4)
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      const status = yield* initialConfig(nodes, [0, 1, 2, 3])
      assert.strictEqual(status.ackedPrepares.length, 4)
      const proof = proofOf(status.config)
      for (const n of nodes) assert.strictEqual(yield* n.node.commit(rackId, 1, proof), "Committed")
      assert.strictEqual(new Set(yield* secrets(nodes, 1)).size, 1)
    })
  )

  it.live("prepare-and-commit: a node offline during prepare rebuilds its share from its peers", () =>
    Effect.gen(function* () {
      const nodes = yield* tlsRack(4)
      const [a, b, c, late] = nodes
      if (!a || !b || !c || !late) throw new Error("nodes")
      yield* mesh([a, b, c])
      yield* connected([a, b, c], 2)
      const status = yield* initialConfig([a, b, c], [0, 1, 2, 3])
      const proof = proofOf(status.config)
      for (const n of [a, b, c]) assert.strictEqual(yield* n.node.commit(rackId, 1, proof), "Committed")
      const before = yield* late.node.status
      assert.deepStrictEqual(before.persistentState, { configs: [], shares: [], commits: [], expunged: null })
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      yield* eventually(late.node.prepareAndCommit(status.config, proof), (s) => s === "Committed")
      const after = yield* late.node.status
      assert.deepStrictEqual(after.persistentState.commits, [1])
      assert.strictEqual(new Set(yield* secrets(nodes, 1)).size, 1)
    })
  )

  it.live("reconfiguration with CommitAdvance: a node stuck at epoch 1 catches up to epoch 2", () =>
    Effect.gen(function* () {
      const nodes = yield* tlsRack(4)
      const [a, b, c, stuck] = nodes
      if (!a || !b || !c || !stuck) throw new Error("nodes")
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      const one = yield* initialConfig(nodes, [0, 1, 2, 3])
      for (const n of nodes) yield* n.node.commit(rackId, 1, proofOf(one.config))
      yield* Effect.forEach([a, b, c], (n) => n.node.setPeers([a, b, c].map((m) => m.node.listenAddress)), {
        discard: true
      })
      yield* stuck.node.setPeers([])
      yield* connected([a, b, c], 2)
      yield* connected([stuck], 0)
      yield* b.node.reconfigure(reconfigureMsg(2, [0, 1, 2, 3], 3, 1, b.node.id))
      const two = yield* eventually(
        b.node.coordinatorStatus,
        (s) => Option.isSome(s) && s.value.ackedPrepares.length === 3
      )
      const proof = proofOf(Option.getOrThrow(two).config)
      for (const n of [a, b, c]) yield* eventually(n.node.commit(rackId, 2, proof), (s) => s === "Committed")
      assert.deepStrictEqual((yield* stuck.node.status).persistentState.commits, [1])
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      yield* stuck.node.clearSecrets
      yield* eventually(stuck.node.loadRackSecret(1), Option.isSome)
      assert.deepStrictEqual((yield* stuck.node.status).persistentState.commits, [1, 2])
      assert.strictEqual(new Set(yield* secrets([a, stuck], 2)).size, 1)
    })
  )

  it.live("persistence: a prepared state and a commit survive restarts; secrets are equal after a second restart", () =>
    Effect.gen(function* () {
      const nodes = yield* tlsRack(4)
      const last = nodes[3]
      if (!last) throw new Error("nodes")
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      const { config } = yield* initialConfig(nodes, [0, 1, 2, 3])
      yield* last.stop
      yield* last.start
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      for (const n of nodes) yield* eventually(n.node.commit(rackId, 1, proofOf(config)), (s) => s === "Committed")
      yield* last.stop
      yield* last.start
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      assert.deepStrictEqual((yield* last.node.status).persistentState.commits, [1])
      assert.strictEqual(new Set(yield* secrets(nodes, 1)).size, 1)
    })
  )
})

describe("ledger faults at startup", () => {
  it.live("a corrupt ledger refuses to start with LedgerCorrupt instead of booting as new", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("scenario")
      const path = join(dir, "ledger.json")
      writeFileSync(path, '{"format":"effect-trust-quorum/ledger/v2","generation":3,"checksum":"00","state":{}}')
      const error = yield* Effect.flip(
        TrustQuorumNode.make({
          id: sled(0),
          listen: { host: "127.0.0.1", port: 0 },
          transport: Transport.insecureTcp,
          authority: authority.publicKey,
          ledger: Ledger.file({ paths: [path], schema: PersistentState })
        })
      )
      assert.strictEqual(error._tag, "LedgerCorrupt")
    })
  )

  it.live("a node starting over one stale and one bit-flipped copy rewrites both with the newest state", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("scenario")
      const paths = [join(dir, "a.json"), join(dir, "b.json"), join(dir, "c.json")]
      const [a, b, c] = paths
      if (!a || !b || !c) throw new Error("paths")
      const ledger = Ledger.file({ paths, schema: PersistentState })
      yield* ledger.save(PersistentStateModule.empty)
      const stale = readFileSync(b, "utf8")
      yield* ledger.save(PersistentStateModule.empty)
      writeFileSync(b, stale)
      writeFileSync(c, readFileSync(c, "utf8").replace('"generation":2', '"generation":7'))
      yield* TrustQuorumNode.make({
        id: sled(0),
        listen: { host: "127.0.0.1", port: 0 },
        transport: Transport.insecureTcp,
        authority: authority.publicKey,
        ledger: Ledger.file({ paths, schema: PersistentState })
      })
      // Every copy, read alone, is valid and at the generation after the newest one (2).
      for (const path of paths) {
        assert.isTrue(Option.isSome(yield* Ledger.file({ paths: [path], schema: PersistentState }).load))
        assert.match(readFileSync(path, "utf8"), /"generation":3,/)
      }
    })
  )

  it.live("one unwritable ledger path is reported, and the node keeps working", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("scenario")
      // The directory is there (checked at start), but every write of this copy fails: its temp file is a directory.
      mkdirSync(join(dir, "stuck.json.tmp"))
      const ledger = Ledger.file({ paths: [join(dir, "ok.json"), join(dir, "stuck.json")], schema: PersistentState })
      const nodes = yield* Effect.forEach([0, 1, 2], (i) =>
        restartable(i, Transport.insecureTcp, i === 0 ? ledger : Ledger.memory<PersistentState>())
      )
      yield* mesh(nodes)
      yield* connected(nodes, 2)
      const first = nodes[0]
      if (!first) throw new Error("nodes")
      yield* first.node.reconfigure(reconfigureMsg(1, [0, 1, 2], 2, null, first.node.id))
      const copies = yield* first.node.ledgerCopies
      assert.strictEqual(copies?.written, 1)
      assert.strictEqual(copies?.configured, 2)
      yield* eventually(first.node.coordinatorStatus, (s) => Option.isSome(s) && s.value.ackedPrepares.length === 3)
    })
  )
})

describe("a misbehaving peer closes only its own link", () => {
  const rawPeer = (port: number, after: Uint8Array) => sendUntilClosed(port, Buffer.concat([helloFrame(), after]))

  it.live(
    "an undecodable frame and an oversize frame each close that link; the node and its other links carry on",
    () =>
      Effect.gen(function* () {
        const nodes = yield* Effect.forEach([0, 1], (i) =>
          restartable(i, Transport.insecureTcp, Ledger.memory<PersistentState>())
        )
        yield* mesh(nodes)
        yield* connected(nodes, 1)
        const target = nodes[0]
        if (!target) throw new Error("nodes")
        const port = target.node.listenAddress.port
        const garbage = Result.getOrThrow(Frame.encode(new TextEncoder().encode("{not a frame")))
        assert.strictEqual(yield* rawPeer(port, garbage), "closed")
        assert.strictEqual(yield* rawPeer(port, Uint8Array.of(0x00, 0x20, 0x00, 0x00)), "closed")
        const status = yield* target.node.status
        assert.deepStrictEqual(status.connectedPeers.map(String), [String(sled(1))])
      })
  )
})

describe("dialing into a silent network", () => {
  it.live("a dial that stalls in the TLS handshake gives up after the handshake timeout and is retried", () =>
    Effect.gen(function* () {
      // A peer address that accepts TCP and then says nothing, as a black-holed network does.
      let accepted = 0
      const { port } = yield* tcpServer(() => {
        accepted++
      })
      const ca = yield* RackPki.makeRackCa()
      const node = yield* TrustQuorumNode.make({
        id: sled(0),
        listen: { host: "127.0.0.1", port: 0 },
        // Advertised above any port, so this node is the one that dials.
        advertise: { host: "127.0.0.1", port: 65535 },
        transport: Transport.tls(yield* RackPki.issueNodeCertificate(ca, String(sled(0)))),
        authority: authority.publicKey,
        ledger: Ledger.memory<PersistentState>(),
        link: { inactivityTimeout: "300 millis" },
        connections: { backoffBase: "20 millis", backoffCap: "50 millis" }
      })
      yield* node.setPeers([{ host: "127.0.0.1", port }])
      // With the transport's own 10 s connect timeout there would be one attempt; with 300 ms, several.
      yield* eventually(
        Effect.sync(() => accepted),
        (n) => n >= 3,
        "3 seconds"
      )
    })
  )
})

describe("identity over mutual TLS", () => {
  it.live("a peer whose certificate names another BaseboardId than its Hello is refused", () =>
    Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const honest = yield* Effect.forEach([0, 1], (i) =>
        Effect.flatMap(RackPki.issueNodeCertificate(ca, String(sled(i))), (creds) =>
          restartable(i, Transport.tls(creds), Ledger.memory<PersistentState>())
        )
      )
      // Node 2 runs as sled 2 but holds sled 7's certificate.
      const impostorCreds = yield* RackPki.issueNodeCertificate(ca, String(sled(7)))
      const impostor = yield* restartable(2, Transport.tls(impostorCreds), Ledger.memory<PersistentState>())
      const all = [...honest, impostor]
      yield* mesh(all)
      yield* connected(honest, 1)
      for (const n of honest) {
        const peers = (yield* n.node.status).connectedPeers.map(String)
        assert.notInclude(peers, String(sled(2)))
        assert.notInclude(peers, String(sled(7)))
      }
      assert.deepStrictEqual((yield* impostor.node.status).connectedPeers, [])
    })
  )

  it.live("after its scope closes, a node answers every call with NodeStopped", () =>
    Effect.gen(function* () {
      const node = yield* restartable(0, Transport.insecureTcp, Ledger.memory<PersistentState>())
      const handle = node.node
      yield* node.stop
      const error = yield* Effect.flip(handle.status)
      assert.strictEqual(error._tag, "NodeStopped")
      assert.match(error.message, /shut down/)
    })
  )
})

describe("duplicate identities are logged loudly", () => {
  it.live("a connection claiming this node's own identity from another address is an error, and refused", () => {
    const logs = captureLogs("Error")
    return Effect.gen(function* () {
      const node = yield* restartable(0, Transport.insecureTcp, Ledger.memory<PersistentState>())
      const outcome = yield* sendUntilClosed(node.node.listenAddress.port, helloFrame(sled(0), undefined, 7777))
      assert.strictEqual(outcome, "closed")
      const line = yield* logs.line(/claims this node's own identity/)
      assert.match(
        line,
        new RegExp(
          `^ERROR a peer at 127\\.0\\.0\\.1:\\d+ claims this node's own identity ${String(sled(0))} \\(it listens at 127\\.0\\.0\\.1:7777\\)`
        )
      )
      assert.deepStrictEqual((yield* node.node.connections).length, 0)
    }).pipe(Effect.provide(logs.layer))
  })

  it.live("one identity connected from two addresses at once is an error naming both", () => {
    const logs = captureLogs("Error")
    return Effect.gen(function* () {
      const node = yield* restartable(0, Transport.insecureTcp, Ledger.memory<PersistentState>())
      const port = node.node.listenAddress.port
      yield* holdOpen(port, helloFrame(sled(1), undefined, 7001))
      yield* eventually(node.node.connections, (links) => links.length === 1)
      yield* holdOpen(port, helloFrame(sled(1), undefined, 7002))
      const line = yield* logs.line(/connected from two addresses/)
      assert.include(
        line,
        `ERROR peer ${String(sled(1))} is connected from two addresses at once (127.0.0.1:7001 and 127.0.0.1:7002`
      )
    }).pipe(Effect.provide(logs.layer))
  })
})
