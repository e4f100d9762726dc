/**
 * Benchmark helpers: a node with an in-memory ledger, so the figures measure the runtime and not the disk.
 */
import * as Ledger from "../src/runtime/Ledger.ts"
import * as Transport from "../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../src/runtime/TrustQuorumNode.ts"
import * as BaseboardId from "../src/types/BaseboardId.ts"
import type { PersistentState } from "../src/types/PersistentState.ts"

/** Starts node `serial` in the current scope; admission wide enough for 1,024 concurrent callers. */
export const startNode = (serial: string, transport: Transport.Transport = Transport.tcp) =>
  TrustQuorumNode.make({
    id: BaseboardId.make("913-0000019", serial),
    listen: { host: "127.0.0.1", port: 0 },
    transport,
    ledger: Ledger.memory<PersistentState>(),
    maxPendingApi: 1024,
    maxInFlightProxied: 1024
  })
