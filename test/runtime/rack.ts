/**
 * Test helpers for runtime tests: start a rack of real nodes in the test's scope, and wait for a
 * condition with a bounded timeout (polling every 10 ms; the wait fails with the last observed value).
 */
import { Duration, Effect, Exit, Option, Schedule, Scope } from "effect"
import * as Ledger from "../../src/runtime/Ledger.ts"
import type { Transport } from "../../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../../src/runtime/TrustQuorumNode.ts"
import * as TestAuthority from "../../src/testing/TestAuthority.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import type { Configuration } from "../../src/types/Configuration.ts"
import * as Decision from "../../src/types/Decision.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import type { ReconfigureMsg } from "../../src/types/Request.ts"

export const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
export const sled = (i: number) => BaseboardId.make("913-0000019", String(i))

/** The control plane's key in runtime tests; every node pins its public half. */
export const authority = TestAuthority.fromLabel("runtime tests")

/** The control plane's commit signature over `config`. */
export const proofOf = (config: Configuration): Uint8Array => Decision.signCommit(authority, config)

/** Retries `effect` until `ok` holds, at most `timeout`. */
export const eventually = <A, E>(
  effect: Effect.Effect<A, E>,
  ok: (a: A) => boolean,
  timeout: Duration.Input = "10 seconds"
): Effect.Effect<A, E | Error> =>
  effect.pipe(
    Effect.flatMap((a) =>
      ok(a) ? Effect.succeed(a) : Effect.fail(new Error(`condition not met: ${JSON.stringify(a)}`))
    ),
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(new Error(`condition not met within ${Duration.format(Duration.fromInputUnsafe(timeout))}`))
    })
  )

export interface RackNode {
  readonly index: number
  readonly node: TrustQuorumNode.TrustQuorumNodeShape
  readonly ledger: Ledger.MemoryLedger<PersistentState>
}

/** Starts node `index` in the current scope. */
export const startNode = (
  index: number,
  transport: (index: number) => Transport,
  ledger: Ledger.MemoryLedger<PersistentState> = Ledger.memory<PersistentState>()
): Effect.Effect<RackNode, unknown, Scope.Scope> =>
  Effect.map(
    TrustQuorumNode.make({
      id: sled(index),
      listen: { host: "127.0.0.1", port: 0 },
      transport: transport(index),
      authority: authority.publicKey,
      ledger
    }),
    (node) => ({ index, node, ledger })
  )

/** Points every node at every other node. */
/** Anything holding a running node. */
export interface HasNode {
  readonly node: TrustQuorumNode.TrustQuorumNodeShape
}

export const mesh = (nodes: ReadonlyArray<HasNode>) =>
  Effect.forEach(nodes, (n) => n.node.setPeers(nodes.map((m) => m.node.listenAddress)), { discard: true })

/** Waits until each node has exactly `peers` connected peers. */
export const connected = (nodes: ReadonlyArray<HasNode>, peers: number) =>
  Effect.forEach(nodes, (n) => eventually(n.node.status, (s) => s.connectedPeers.length === peers), { discard: true })

/** The control plane's signed reconfiguration, for `coordinator`. */
export const reconfigureMsg = (
  epoch: number,
  members: ReadonlyArray<number>,
  threshold: number,
  last: number | null,
  coordinator: BaseboardId.BaseboardId
): ReconfigureMsg =>
  Decision.reconfigureMsg(authority, {
    rackId,
    epoch,
    lastCommittedEpoch: last,
    members: members.map(sled),
    threshold,
    coordinator
  })

/** Polls `loadRackSecret(epoch)` on each node until all have it; returns their fingerprints. */
export const secrets = (nodes: ReadonlyArray<HasNode>, epoch: number) =>
  Effect.forEach(nodes, (n) =>
    eventually(n.node.loadRackSecret(epoch), Option.isSome).pipe(
      Effect.map((s) => Option.match(s, { onNone: () => "", onSome: (x) => x.fingerprint() }))
    )
  )

/** A node that can be stopped and started again over the same ledger (a crash and restart). */
export interface Restartable extends HasNode {
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<TrustQuorumNode.TrustQuorumNodeShape, unknown>
}

/** Node `index` in the current scope, over `transport` and `ledger`; `options` override the rest (authority included). */
export const restartable = <E, NE = never>(
  index: number,
  transport: Transport,
  ledger: TrustQuorumNode.NodeLedger<E>,
  options: Pick<
    TrustQuorumNode.TrustQuorumNodeConfig<E, NE>,
    "link" | "connections" | "maxPendingApi" | "networkConfigLedger"
  > & { readonly authority?: TrustQuorumNode.TrustQuorumNodeConfig<E, NE>["authority"] } = {}
): Effect.Effect<Restartable, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    let scope: Scope.Closeable | undefined
    let running: TrustQuorumNode.TrustQuorumNodeShape | undefined
    const start = Effect.gen(function* () {
      const s = yield* Scope.make()
      scope = s
      running = yield* TrustQuorumNode.make({
        id: sled(index),
        listen: { host: "127.0.0.1", port: 0 },
        transport,
        authority: authority.publicKey,
        ledger,
        ...options
      }).pipe(Scope.provide(s))
      return running
    })
    const stop = Effect.suspend(() => (scope === undefined ? Effect.void : Scope.close(scope, Exit.void)))
    yield* Effect.addFinalizer(() => stop)
    yield* start
    return {
      get node() {
        if (running === undefined) throw new Error("not started")
        return running
      },
      stop,
      start
    }
  })
