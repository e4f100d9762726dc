/**
 * Benchmark helpers: a node with an in-memory ledger, so the figures measure the runtime and not the disk,
 * pinning a fixed test authority key (`benchAuthority`).
 */
import * as Ledger from "../src/runtime/Ledger.ts"
import * as Transport from "../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../src/runtime/TrustQuorumNode.ts"
import * as TestAuthority from "../src/testing/TestAuthority.ts"
import * as BaseboardId from "../src/types/BaseboardId.ts"
import type { PersistentState } from "../src/types/PersistentState.ts"

/** The control plane's key in every benchmark. */
export const benchAuthority = TestAuthority.fromLabel("bench")

/** Starts node `serial` in the current scope; admission wide enough for 1,024 concurrent callers. */
export const startNode = (serial: string, transport: Transport.Transport = Transport.insecureTcp) =>
  TrustQuorumNode.make({
    id: BaseboardId.make("913-0000019", serial),
    listen: { host: "127.0.0.1", port: 0 },
    transport,
    authority: benchAuthority.publicKey,
    ledger: Ledger.memory<PersistentState>(),
    maxPendingApi: 1024,
    maxInFlightProxied: 1024
  })
