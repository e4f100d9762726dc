/**
 * The control-plane store's cost per reconfiguration: the same driver rotates the secret of a 4-node rack
 * (in-process nodes, in-memory transport and node ledgers, so the nodes cost the same every time) over
 * three stores — in memory, the ledger file (fsynced) and PostgreSQL (a throwaway local cluster, default
 * durability: synchronous commit, fsync). Figures per reconfiguration (median of the rotations): the
 * driver's wall time, what a store adds to it over the in-memory one, the number of store calls and their
 * summed time (members commit concurrently, so their calls overlap and the sum can exceed the wall time).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Effect, Exit, Layer, Option, Schedule, Scope } from "effect"
import * as ControlPlaneStore from "../src/control/ControlPlaneStore.ts"
import * as MemberClient from "../src/control/MemberClient.ts"
import * as Reconfigurator from "../src/control/Reconfigurator.ts"
import * as Ledger from "../src/runtime/Ledger.ts"
import * as Transport from "../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../src/runtime/TrustQuorumNode.ts"
import { PgCluster } from "../src/testing/PgCluster.ts"
import * as TestAuthority from "../src/testing/TestAuthority.ts"
import * as BaseboardId from "../src/types/BaseboardId.ts"
import type { PersistentState } from "../src/types/PersistentState.ts"

const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const rotations = 30
const authority = TestAuthority.fromLabel("bench controlplane")
const ms = (t: number) => performance.now() - t
const round = (x: number) => Math.round(x * 100) / 100
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

/** Wraps every step of `store` to add its wall time to `spent` and count it. */
const timed = (store: ControlPlaneStore.ControlPlaneStoreShape, spent: { millis: number; calls: number }) => {
  const time =
    <Args extends ReadonlyArray<unknown>, A, E>(f: (...args: Args) => Effect.Effect<A, E>) =>
    (...args: Args) =>
      Effect.suspend(() => {
        const t = performance.now()
        return Effect.ensuring(
          f(...args),
          Effect.sync(() => {
            spent.millis += ms(t)
            spent.calls++
          })
        )
      })
  const shape: ControlPlaneStore.ControlPlaneStoreShape = {
    describe: store.describe,
    load: time(store.load),
    propose: time(store.propose),
    prepared: time(store.prepared),
    memberCommitted: time(store.memberCommitted),
    committed: time(store.committed),
    abort: time(store.abort)
  }
  return shape
}

/** Four nodes in a fresh scope, fully connected. */
const startRack = Effect.gen(function* () {
  const scope = yield* Scope.make()
  const network = Transport.makeMemoryNetwork()
  const nodes = yield* Effect.forEach([0, 1, 2, 3], (i) =>
    TrustQuorumNode.make({
      id: BaseboardId.make("913-0000019", String(i)),
      authority: authority.publicKey,
      listen: { host: "127.0.0.1", port: 0 },
      transport: network.transport,
      ledger: Ledger.memory<PersistentState>()
    }).pipe(Scope.provide(scope))
  )
  yield* Effect.forEach(nodes, (n) => n.setPeers(nodes.map((m) => m.listenAddress)), { discard: true })
  yield* Effect.forEach(nodes, (n) =>
    n.status.pipe(Effect.repeat({ schedule: Schedule.spaced("2 millis"), until: (s) => s.connectedPeers.length === 3 }))
  )
  return { nodes, close: Scope.close(scope, Exit.void) }
})

/** The first configuration, then `rotations` rotations; the figures of the rotations. */
const measure = (name: string, store: ControlPlaneStore.ControlPlaneStoreShape) =>
  Effect.gen(function* () {
    const { nodes, close } = yield* startRack
    const spent = { millis: 0, calls: 0 }
    const driver = yield* Reconfigurator.make({
      rackId,
      authority,
      store: timed(store, spent),
      clientOf: (id) =>
        Option.map(Option.fromNullishOr(nodes.find((n) => n.id.key === id.key)), (n) => MemberClient.fromNode(n)),
      options: { pollInterval: "1 millis" }
    })
    const members = nodes.map((n) => n.id)
    yield* driver.reconfigure(members)
    const wall: Array<number> = []
    const inStore: Array<number> = []
    const calls: Array<number> = []
    for (let i = 0; i < rotations; i++) {
      spent.millis = 0
      spent.calls = 0
      const t = performance.now()
      yield* driver.reconfigure(members)
      wall.push(ms(t))
      inStore.push(spent.millis)
      calls.push(spent.calls)
    }
    yield* close
    return {
      store: name,
      reconfiguration_ms_p50: round(median(wall)),
      store_call_ms_sum_p50: round(median(inStore)),
      store_calls_per_reconfiguration: median(calls)
    }
  })

const program = Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "tq-bench-controlplane-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const memory = yield* measure("memory", ControlPlaneStore.memory())
  const file = yield* measure("file (one copy, fsynced)", ControlPlaneStore.file([join(dir, "driver.json")]))
  const cluster = yield* PgCluster
  const pg = Context.get(
    yield* Layer.build(ControlPlaneStore.ControlPlaneStore.layerPostgres(cluster.url)),
    ControlPlaneStore.ControlPlaneStore
  )
  const postgres = yield* measure("postgres (local, synchronous commit)", pg)
  const added = (row: typeof memory) => ({
    ...row,
    added_over_memory_ms: round(row.reconfiguration_ms_p50 - memory.reconfiguration_ms_p50)
  })
  return {
    rack: "4 in-process nodes, in-memory transport and node ledgers",
    rotations,
    rows: [memory, file, postgres].map(added),
    postgres_over_file_ms: round(postgres.reconfiguration_ms_p50 - file.reconfiguration_ms_p50)
  }
})

export const run = () => Effect.runPromise(program.pipe(Effect.provide(PgCluster.layer), Effect.scoped))
