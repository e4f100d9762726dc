/**
 * Several drivers over one PostgreSQL store (a throwaway cluster) against a rack of in-process nodes:
 * a request accepted by a replica that dies at once is completed by another replica's loop; a replica
 * acting on a stale view gets a conflict, re-reads and overwrites nothing; requests sent to different
 * replicas at once are each committed exactly once, one epoch after the other.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import * as ControlPlaneStore from "../../src/control/ControlPlaneStore.ts"
import * as Reconfigurator from "../../src/control/Reconfigurator.ts"
import { PgCluster } from "../../src/testing/PgCluster.ts"
import { authority, eventually, secrets, sled } from "../runtime/rack.ts"
import { clientsOf, memoryRack } from "./memoryRack.ts"

/** The tests share one database: each drives a rack of its own. */
const rackOfTest = (n: number) => `5ab1e000-0000-4000-8000-${String(n).padStart(12, "0")}`

const fast = { pollInterval: "10 millis", deadline: "20 seconds" } as const

/** A replica of rack `rackId`: its own connection pool to the cluster, in `scope`. */
const replica = (rackId: string, nodes: Parameters<typeof clientsOf>[0], scope: Scope.Scope) =>
  Effect.gen(function* () {
    const cluster = yield* PgCluster
    const context = yield* Layer.buildWithScope(ControlPlaneStore.ControlPlaneStore.layerPostgres(cluster.url), scope)
    return yield* Reconfigurator.make({
      rackId,
      authority,
      store: Context.get(context, ControlPlaneStore.ControlPlaneStore),
      clientOf: clientsOf(nodes),
      options: fast
    })
  })

layer(PgCluster.layer, { timeout: 60_000, excludeTestServices: true })(
  "Reconfigurator replicas over PostgreSQL",
  (it) => {
    it.effect(
      "a request accepted by a replica that dies at once is completed by another replica, and proposed once",
      () =>
        Effect.gen(function* () {
          const nodes = yield* memoryRack(4)
          const doomed = yield* Scope.make()
          const accepting = yield* replica(rackOfTest(1), nodes, doomed)
          const survivor = yield* replica(rackOfTest(1), nodes, yield* Effect.scope)
          const accepted = yield* accepting.submit({ _tag: "Set", members: nodes.map((n) => n.node.id) }, "first")
          assert.deepStrictEqual([accepted.epoch, accepted.phase], [1, "Preparing"])
          // The accepting replica is gone (its connections closed) before it sent anything to a node.
          yield* Scope.close(doomed, Exit.void)
          // The client never heard the answer and submits again, elsewhere: one request, one proposal.
          const again = yield* survivor.submit({ _tag: "Set", members: nodes.map((n) => n.node.id) }, "first")
          assert.deepStrictEqual([again.epoch, again.request], [1, "first"])
          yield* Effect.forkScoped(survivor.run)
          const done = yield* eventually(survivor.state, (s) => s.configs[0]?.phase === "Committed", "15 seconds")
          assert.deepStrictEqual(
            done.configs.map((c) => [c.epoch, c.phase, c.request]),
            [[1, "Committed", "first"]]
          )
          assert.strictEqual(new Set(yield* secrets(nodes, 1)).size, 1)
        })
    )

    it.effect("a replica driving from a stale view gets a conflict, re-reads and overwrites nothing", () =>
      Effect.gen(function* () {
        const nodes = yield* memoryRack(4)
        const scope = yield* Effect.scope
        const first = yield* replica(rackOfTest(2), nodes, scope)
        const late = yield* replica(rackOfTest(2), nodes, scope)
        const accepted = yield* first.submit({ _tag: "Set", members: nodes.map((n) => n.node.id) }, "first")
        const committed = yield* first.complete(accepted)
        const conflicts = yield* Effect.forkChild(
          Stream.runCollect(
            Stream.take(
              Stream.filter(late.events, (e) => e._tag === "Conflict"),
              1
            )
          ),
          { startImmediately: true }
        )
        // The late replica still sees epoch 1 Preparing; the store says another replica committed it.
        const again = yield* late.complete(accepted)
        assert.deepStrictEqual(yield* Fiber.join(conflicts), [{ _tag: "Conflict", epoch: 1, step: "prepared" }])
        assert.deepStrictEqual([again.epoch, again.phase, again.committedAt], [1, "Committed", committed.committedAt])
        assert.deepStrictEqual((yield* late.state).configs, (yield* first.state).configs)
      })
    )

    it.effect("requests sent to two replicas at once are each committed exactly once, one epoch after the other", () =>
      Effect.gen(function* () {
        const nodes = yield* memoryRack(5)
        const scope = yield* Effect.scope
        const a = yield* replica(rackOfTest(3), nodes, scope)
        const b = yield* replica(rackOfTest(3), nodes, scope)
        yield* Effect.forkScoped(a.run)
        yield* Effect.forkScoped(b.run)
        yield* a.reconfigure(nodes.slice(0, 4).map((n) => n.node.id))
        const [added, rotated, refused] = yield* Effect.all(
          [
            Effect.flatMap(a.submit({ _tag: "Add", id: sled(4) }, "add"), b.complete),
            Effect.flatMap(b.submit({ _tag: "Rotate" }, "rotate"), a.complete),
            Effect.flip(b.submit({ _tag: "Remove", id: sled(9) }, "remove-a-stranger"))
          ],
          { concurrency: "unbounded" }
        )
        assert.strictEqual(
          refused.message,
          "request remove-a-stranger refused: 913-0000019:9 is not a member; nothing was proposed"
        )
        const configs = (yield* a.state).configs
        const committed = configs.filter((c) => c.phase === "Committed")
        assert.deepStrictEqual(
          committed
            .map((c) => c.request)
            .slice(1)
            .sort(),
          ["add", "rotate"]
        )
        assert.deepStrictEqual(
          configs.map((c) => c.epoch),
          configs.map((_, i) => i + 1)
        )
        assert.deepStrictEqual([added.phase, rotated.phase], ["Committed", "Committed"])
        assert.deepStrictEqual(
          [added.epoch, rotated.epoch].sort(),
          committed.filter((c) => c.request === "add" || c.request === "rotate").map((c) => c.epoch)
        )
        const latest = committed.at(-1)
        assert.strictEqual(latest?.members.length, 5)
        assert.strictEqual(new Set(yield* secrets(nodes, latest?.epoch ?? 0)).size, 1)
      })
    )
  }
)
