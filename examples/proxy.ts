/**
 * Proxying to a node without a node API (the README's snippet, kept runnable): four nodes over mutual
 * TLS; the control plane commits three of them directly and the fourth only through the first one's
 * proxy, with typed errors in the error channel. Run with the project's Node
 * (24, installed by `npm install`): `npx node examples/proxy.ts`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Option, Schedule } from "effect"
import {
  AuthorityKey,
  BaseboardId,
  Decision,
  Ledger,
  type PersistentState,
  ProxyOperation,
  RackPki,
  Transport,
  TrustQuorumNode
} from "../src/index.ts"

const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const ids = ["0", "1", "2", "3"].map((s) => BaseboardId.make("913-0000019", s))
const poll = Schedule.spaced("20 millis")

const program = Effect.gen(function* () {
  const ca = yield* RackPki.makeRackCa()
  const authority = AuthorityKey.SigningKey.generate()
  const nodes = yield* Effect.forEach(ids, (id) =>
    Effect.flatMap(RackPki.issueNodeCertificate(ca, id.toString()), (creds) =>
      TrustQuorumNode.make({
        id,
        listen: { host: "127.0.0.1", port: 0 },
        transport: Transport.tls(creds),
        authority: authority.publicKey,
        ledger: Ledger.memory<PersistentState.PersistentState>()
      })
    )
  )
  yield* Effect.forEach(nodes, (n) => n.setPeers(nodes.map((m) => m.listenAddress)), { discard: true })
  const [member, , ,] = nodes
  const newSled = ids[3]
  if (member === undefined || newSled === undefined) return
  yield* Effect.forEach(nodes, (n) =>
    n.status.pipe(Effect.repeat({ schedule: poll, until: (s) => s.connectedPeers.length === 3 }))
  )
  yield* member.reconfigure(
    Decision.reconfigureMsg(authority, {
      rackId,
      epoch: 1,
      lastCommittedEpoch: null,
      members: ids,
      threshold: 3,
      coordinator: member.id
    })
  )
  const prepared = yield* member.coordinatorStatus.pipe(
    Effect.repeat({ schedule: poll, until: (s) => Option.isSome(s) && s.value.ackedPrepares.length === 4 })
  )
  const config = Option.getOrThrow(prepared).config
  // Every commit carries the control plane's signature over the exact configuration.
  const proof = Decision.signCommit(authority, config)
  for (const n of nodes.slice(0, 3)) yield* n.commit(rackId, 1, proof)

  // The control plane cannot reach the new sled: it asks a member to forward the commit.
  const proxy = member.proxy
  const committed = yield* proxy
    .commit(newSled, rackId, 1, proof)
    .pipe(Effect.catchTag("NotPrepared", () => proxy.prepareAndCommit(newSled, config, proof)))
  yield* Effect.log(`commit of ${newSled} through ${member.id}'s proxy: ${committed}`)
  const wrongEpoch = yield* proxy
    .commit(newSled, rackId, 2, proof)
    .pipe(Effect.catchTag("NotPrepared", (e) => Effect.succeed(`typed error NotPrepared(epoch ${e.epoch})`)))
  yield* Effect.log(`commit of an epoch it never saw: ${wrongEpoch}`)
  const remote = yield* proxy.call(ProxyOperation.Status, newSled, {}, { timeout: "2 seconds" })
  yield* Effect.log(`proxied status of ${newSled}: commits ${remote.persistentState.commits.join(",")}`)
})

NodeRuntime.runMain(Effect.scoped(program).pipe(Effect.timeout("20 seconds")))
