/**
 * A consumer of the packed tarball (test/package/Consumer.test.ts): the README's "Use it as a library"
 * Layer, built on plain Node from the package's compiled JavaScript, typechecked against its `.d.ts`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { AuthorityKey, BaseboardId, Ledger, PersistentState, Transport, TrustQuorumNode } from "effect-trust-quorum"
import { NodeApi } from "effect-trust-quorum/api"
import { Reconfigurator } from "effect-trust-quorum/control"
import { Ledger as RuntimeLedger } from "effect-trust-quorum/runtime"

// README: layer
// The control plane's authority key: in a real rack, PublicKey.fromPem of the authority.pub `tq certs init` wrote.
const authority = AuthorityKey.SigningKey.generate().publicKey
const NodeLive = TrustQuorumNode.TrustQuorumNode.layer({
  id: BaseboardId.make("913-0000019", "1"),
  listen: { host: "127.0.0.1", port: 0 },
  transport: Transport.insecureTcp, // Transport.tls(credentials) between machines
  authority,
  ledger: Ledger.file({ paths: ["ledger-a.json", "ledger-b.json"], schema: PersistentState.PersistentState })
})
// README: end

const program = Effect.gen(function* () {
  const node = yield* TrustQuorumNode.TrustQuorumNode
  const status = yield* node.status
  return {
    id: String(node.id),
    listening: node.listenAddress.port > 0,
    commits: status.persistentState.commits,
    api: NodeApi.NodeApi.identifier,
    subpaths: typeof Reconfigurator.make === "function" && RuntimeLedger.file === Ledger.file
  }
})

NodeRuntime.runMain(
  program.pipe(
    Effect.flatMap((summary) => Console.log(JSON.stringify(summary))),
    Effect.provide(NodeLive)
  )
)
