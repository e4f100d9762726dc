import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, SubscriptionRef } from "effect"
import * as Transport from "../../src/runtime/Transport.ts"
import { connected, eventually, mesh, proofOf, rackId, reconfigureMsg, secrets, sled, startNode } from "./rack.ts"

const memory = () => {
  const network = Transport.makeMemoryNetwork()
  return () => network.transport
}

describe("TrustQuorumNode over the memory transport", () => {
  it.live("4 nodes form a full mesh with exactly one link per pair", () =>
    Effect.gen(function* () {
      const transport = memory()
      const nodes = yield* Effect.forEach([0, 1, 2, 3], (i) => startNode(i, transport))
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      for (const n of nodes) {
        const links = yield* n.node.connections
        assert.strictEqual(links.filter((l) => l.current).length, 3)
        assert.deepStrictEqual(new Set(links.map((l) => String(l.peer))).size, 3)
      }
    })
  )

  it.live("initial configuration: reconfigure, 4 prepare acks, commit everywhere, equal secrets", () =>
    Effect.gen(function* () {
      const transport = memory()
      const nodes = yield* Effect.forEach([0, 1, 2, 3], (i) => startNode(i, transport))
      yield* mesh(nodes)
      yield* connected(nodes, 3)
      const [first] = nodes
      if (!first) throw new Error("no nodes")
      yield* first.node.reconfigure(reconfigureMsg(1, [0, 1, 2, 3], 3, null, first.node.id))
      const status = yield* eventually(
        first.node.coordinatorStatus,
        (s) => Option.isSome(s) && s.value.ackedPrepares.length === 4
      )
      assert.isTrue(Option.isSome(status))
      const proof = proofOf(Option.getOrThrow(status).config)
      for (const n of nodes) assert.strictEqual(yield* n.node.commit(rackId, 1, proof), "Committed")
      const fingerprints = yield* secrets(nodes, 1)
      assert.strictEqual(new Set(fingerprints).size, 1)
      // The commit is durable in each ledger and published on committedEpoch.
      for (const n of nodes) {
        const saved = n.ledger.current()
        assert.isTrue(Option.isSome(saved) && saved.value.commits.has(1))
        assert.deepStrictEqual(yield* SubscriptionRef.get(n.node.committedEpoch), Option.some(1))
      }
    })
  )

  it.live(
    "a failed ledger write stops the node: the caller gets NodeStopped, never an acknowledgement; stopped completes",
    () =>
      Effect.gen(function* () {
        const transport = memory()
        const nodes = yield* Effect.forEach([0, 1, 2], (i) => startNode(i, transport))
        const [first] = nodes
        if (!first) throw new Error("no nodes")
        first.ledger.failNextWrites(1)
        const error = yield* Effect.flip(first.node.reconfigure(reconfigureMsg(1, [0, 1, 2], 2, null, first.node.id)))
        assert.strictEqual(error._tag, "NodeStopped")
        const later = yield* Effect.flip(first.node.status)
        assert.strictEqual(later._tag, "NodeStopped")
        assert.match(later.message, /ledger write failed/)
        // The embedding application hears of it without calling anything.
        const stopped = yield* first.node.stopped.pipe(Effect.timeout("5 seconds"))
        assert.match(stopped.reason, /^ledger write failed: /)
        assert.strictEqual(stopped.message, later.message)
      })
  )

  it.live("typed errors reach the caller: commit of an unprepared epoch fails with NotPrepared", () =>
    Effect.gen(function* () {
      const transport = memory()
      const node = yield* startNode(0, transport)
      const error = yield* node.node
        .commit(rackId, 3, new Uint8Array(64))
        .pipe(Effect.catchTag("NotPrepared", (e) => Effect.succeed(`not prepared: ${e.epoch}`)))
      assert.strictEqual(error, "not prepared: 3")
      assert.strictEqual(String(sled(0)), String(node.node.id))
    })
  )

  it.live("bad epochs and rack ids are refused with InvalidArgument at the boundary; the node keeps answering", () =>
    Effect.gen(function* () {
      const node = yield* startNode(0, () => Transport.insecureTcp)
      for (const epoch of [-5, 1.5, Number.NaN, 2 ** 60]) {
        const error = yield* Effect.flip(node.node.commit(rackId, epoch, new Uint8Array(64))).pipe(
          Effect.timeout("5 seconds")
        )
        assert.strictEqual(error._tag, "InvalidArgument")
        assert.match(error.message, /^invalid epoch: .*; pass a valid value$/)
        const load = yield* Effect.flip(node.node.loadRackSecret(epoch)).pipe(Effect.timeout("5 seconds"))
        assert.strictEqual(load._tag, "InvalidArgument")
      }
      const badRack = yield* Effect.flip(node.node.commit("not-a-uuid", 1, new Uint8Array(64)))
      assert.strictEqual(badRack._tag, "InvalidArgument")
      assert.match(badRack.message, /^invalid rack id: /)
      const status = yield* node.node.status.pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(status.persistentState.configs, [])
    })
  )
})
