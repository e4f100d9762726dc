/**
 * Test helpers for the control-plane driver: a rack of in-process nodes over the in-memory transport,
 * fully meshed, and the driver's view of it (each node's `MemberClient`).
 */
import { Effect, Option } from "effect"
import * as MemberClient from "../../src/control/MemberClient.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import type { BaseboardId } from "../../src/types/BaseboardId.ts"
import { connected, type HasNode, mesh, startNode } from "../runtime/rack.ts"

/** `count` nodes (sleds 0…count-1), connected to each other. */
export const memoryRack = (count: number) =>
  Effect.gen(function* () {
    const network = Transport.makeMemoryNetwork()
    const nodes = yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => startNode(i, () => network.transport)
    )
    yield* mesh(nodes)
    yield* connected(nodes, count - 1)
    return nodes
  })

/** The driver's client of each of `nodes`, in-process. */
export const clientsOf =
  (nodes: ReadonlyArray<HasNode>) =>
  (id: BaseboardId): Option.Option<MemberClient.MemberClient> =>
    Option.map(Option.fromNullishOr(nodes.find((n) => n.node.id.key === id.key)), (n) => MemberClient.fromNode(n.node))
