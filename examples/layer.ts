/**
 * A node as a `Layer` in an Effect program (the README's snippet, kept runnable): three nodes over
 * mutual TLS with file ledgers, pinning the control plane's authority key; an initial configuration
 * signed by that key, and every node unlocking the same secret.
 * Run with the project's Node (24, installed by `npm install`): `npx node examples/layer.ts`.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Option, Schedule } from "effect"
import {
  AuthorityKey,
  BaseboardId,
  Decision,
  Ledger,
  PersistentState,
  RackPki,
  Transport,
  TrustQuorumNode
} from "../src/index.ts"

const dir = mkdtempSync(join(tmpdir(), "tq-layer-"))
const ids = ["0", "1", "2"].map((s) => BaseboardId.make("913-0000019", s))

const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"

const program = Effect.gen(function* () {
  const ca = yield* RackPki.makeRackCa()
  // The control plane's key: it signs every decision; the nodes pin its public half.
  const authority = AuthorityKey.SigningKey.generate()
  // Each node is a scoped service; building its layer starts it, closing the scope stops it.
  const nodes = yield* Effect.forEach(ids, (id, i) =>
    Effect.gen(function* () {
      const creds = yield* RackPki.issueNodeCertificate(ca, id.toString())
      const layer = TrustQuorumNode.TrustQuorumNode.layer({
        id,
        listen: { host: "127.0.0.1", port: 0 },
        transport: Transport.tls(creds),
        authority: authority.publicKey,
        ledger: Ledger.file({
          paths: [join(dir, `node${i}.json`)],
          schema: PersistentState.PersistentState,
          owner: { node: id.toString(), rackOf: PersistentState.rackId }
        })
      })
      const context = yield* Layer.build(layer)
      return yield* TrustQuorumNode.TrustQuorumNode.pipe(Effect.provide(context))
    })
  )
  yield* Effect.forEach(nodes, (n) => n.setPeers(nodes.map((m) => m.listenAddress)), { discard: true })
  const [first] = nodes
  if (first === undefined) return
  const retry = Schedule.spaced("20 millis")
  yield* first
    .reconfigure(
      Decision.reconfigureMsg(authority, {
        rackId,
        epoch: 1,
        lastCommittedEpoch: null,
        members: ids,
        threshold: 2,
        coordinator: first.id
      })
    )
    .pipe(Effect.retry({ schedule: retry, while: (e) => e._tag === "Busy" }))
  const prepared = yield* first.coordinatorStatus.pipe(
    Effect.repeat({ schedule: retry, until: (s) => Option.isSome(s) && s.value.ackedPrepares.length === 3 })
  )
  // The commit is signed over the exact configuration the coordinator built.
  const proof = Decision.signCommit(authority, Option.getOrThrow(prepared).config)
  for (const n of nodes) yield* n.commit(rackId, 1, proof)
  for (const n of nodes) {
    const secret = yield* n.loadRackSecret(1).pipe(Effect.repeat({ schedule: retry, until: Option.isSome }))
    yield* Effect.log(`${n.id} unlocked epoch 1: fingerprint ${Option.getOrThrow(secret).fingerprint()}`)
  }
})

NodeRuntime.runMain(Effect.scoped(program).pipe(Effect.timeout("20 seconds")))
