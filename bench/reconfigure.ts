/**
 * Reconfiguration and unlock at scale: N = 4, 8, 16, 32 nodes in one process over real mutual TLS.
 *
 * - reconfigure: from `reconfigure` at the coordinator to every member committed, with file ledgers
 *   (two copies each, fsynced) and again with in-memory ledgers; the difference is the share of the time
 *   spent making state durable.
 * - unlock: after a full rack restart from the file ledgers, the time until every member has loaded the
 *   latest secret.
 * Baseline measured in the same run: one durable ledger write (temp file, fsync, rename, fsync dir).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Option, Schedule, Scope } from "effect"
import * as Ledger from "../src/runtime/Ledger.ts"
import * as RackPki from "../src/runtime/RackPki.ts"
import * as Transport from "../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../src/runtime/TrustQuorumNode.ts"
import * as BaseboardId from "../src/types/BaseboardId.ts"
import * as Decision from "../src/types/Decision.ts"
import { empty, PersistentState } from "../src/types/PersistentState.ts"
import { benchAuthority } from "./nodes.ts"

const sizes = [4, 8, 16, 32] as const
const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const poll = Schedule.spaced("2 millis")
const ms = (t: number) => Math.round((performance.now() - t) * 10) / 10

type Ledgers = (i: number) => TrustQuorumNode.NodeLedger<unknown>

/** Starts N nodes in a fresh scope and waits for the full mesh. */
const startRack = (n: number, creds: ReadonlyArray<RackPki.NodeCredentials>, ledgers: Ledgers) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const nodes = yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) =>
        TrustQuorumNode.make({
          id: BaseboardId.make("913-0000019", String(i)),
          listen: { host: "127.0.0.1", port: 0 },
          transport: Transport.tls(creds[i] ?? creds[0] ?? ({} as never)),
          authority: benchAuthority.publicKey,
          ledger: ledgers(i)
        }).pipe(Scope.provide(scope))
    )
    yield* Effect.forEach(nodes, (node) => node.setPeers(nodes.map((m) => m.listenAddress)), { discard: true })
    yield* Effect.forEach(nodes, (node) =>
      node.status.pipe(Effect.repeat({ schedule: poll, until: (s) => s.connectedPeers.length === n - 1 }))
    )
    return { nodes, close: Scope.close(scope, Exit.void) }
  })

const reconfigure = (nodes: ReadonlyArray<TrustQuorumNode.TrustQuorumNodeShape>) =>
  Effect.gen(function* () {
    const [coordinator] = nodes
    if (coordinator === undefined) return 0
    const t = performance.now()
    yield* coordinator.reconfigure(
      Decision.reconfigureMsg(benchAuthority, {
        rackId,
        epoch: 1,
        lastCommittedEpoch: null,
        members: nodes.map((n) => n.id),
        threshold: Math.floor(nodes.length / 2) + 1,
        coordinator: coordinator.id
      })
    )
    const prepared = yield* coordinator.coordinatorStatus.pipe(
      Effect.repeat({ schedule: poll, until: (s) => Option.isSome(s) && s.value.ackedPrepares.length === nodes.length })
    )
    // The control plane signs the commit of the exact configuration (part of what a reconfiguration costs).
    const proof = Decision.signCommit(benchAuthority, Option.getOrThrow(prepared).config)
    yield* Effect.forEach(nodes, (n) => n.commit(rackId, 1, proof), { concurrency: "unbounded" })
    return ms(t)
  })

const unlock = (nodes: ReadonlyArray<TrustQuorumNode.TrustQuorumNodeShape>) =>
  Effect.gen(function* () {
    const t = performance.now()
    yield* Effect.forEach(
      nodes,
      (n) => n.loadLatestRackSecret.pipe(Effect.repeat({ schedule: poll, until: Option.isSome })),
      { concurrency: "unbounded" }
    )
    return ms(t)
  })

const program = Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "tq-bench-reconfigure-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const ca = yield* RackPki.makeRackCa()
  const creds = yield* Effect.forEach(
    Array.from({ length: 32 }, (_, i) => i),
    (i) => RackPki.issueNodeCertificate(ca, `913-0000019:${i}`)
  )

  // Baseline: one durable write of a ledger-sized state.
  const baselineLedger = Ledger.file({ paths: [join(dir, "baseline.json")], schema: PersistentState })
  const samples: Array<number> = []
  for (let i = 0; i < 50; i++) {
    const t = performance.now()
    yield* baselineLedger.save(empty)
    samples.push(ms(t))
  }
  samples.sort((a, b) => a - b)
  const fsyncBaselineMs = samples[Math.floor(samples.length / 2)] ?? 0

  const rows = []
  for (const n of sizes) {
    const fileLedgers: Ledgers = (i) =>
      Ledger.file({ paths: [join(dir, `n${n}-${i}-a.json`), join(dir, `n${n}-${i}-b.json`)], schema: PersistentState })
    const withFiles = yield* startRack(n, creds, fileLedgers)
    const reconfigureMs = yield* reconfigure(withFiles.nodes)
    yield* withFiles.close
    // Full rack restart from the file ledgers: every node must unlock again.
    const restarted = yield* startRack(n, creds, fileLedgers)
    const unlockMs = yield* unlock(restarted.nodes)
    yield* restarted.close
    const inMemory = yield* startRack(n, creds, () => Ledger.memory<PersistentState>())
    const memoryMs = yield* reconfigure(inMemory.nodes)
    yield* inMemory.close
    rows.push({
      n,
      reconfigure_ms: reconfigureMs,
      reconfigure_memory_ledger_ms: memoryMs,
      durable_share: Math.round(Math.max(0, (reconfigureMs - memoryMs) / reconfigureMs) * 100) / 100,
      unlock_after_restart_ms: unlockMs
    })
  }
  return {
    transport: "tls13",
    ledger_copies: 2,
    rows,
    baseline: { durable_write_ms_p50: fsyncBaselineMs },
    target: "N = 32 reconfigured in under 250 ms",
    machine: { cores: cpus().length, node: process.version }
  }
})

export const run = () => Effect.runPromise(Effect.scoped(program))
