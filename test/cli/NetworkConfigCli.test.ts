import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream, SubscriptionRef } from "effect"
import * as Transport from "../../src/runtime/Transport.ts"
import { serveApi } from "../api/serve.ts"
import { runScript } from "../examples/script.ts"
import { authority, connected, mesh, rackId, startNode } from "../runtime/rack.ts"

const tq = (...args: ReadonlyArray<string>) => runScript(["src/cli/tq.ts", ...args]).pipe(Effect.timeout("30 seconds"))

describe("tq network-config", () => {
  it.live(
    "set signs the blob with the authority key and stores it at a node, which gossips it; get reads it back",
    () =>
      Effect.gen(function* () {
        const network = Transport.makeMemoryNetwork()
        const nodes = yield* Effect.forEach([0, 1, 2], (i) => startNode(i, () => network.transport))
        yield* mesh(nodes)
        yield* connected(nodes, 2)
        const [first, , last] = nodes
        if (first === undefined || last === undefined) return assert.fail("three nodes")
        const url = yield* serveApi(first.node)
        const dir = mkdtempSync(join(tmpdir(), "tq-network-config-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        writeFileSync(join(dir, "authority.key"), authority.toPem(), { mode: 0o600 })
        writeFileSync(join(dir, "rack.json"), '{"ntp":["10.1.1.1"]}')

        const set = yield* tq(
          "network-config",
          "set",
          "--api",
          url,
          "--authority-key",
          join(dir, "authority.key"),
          "--rack-id",
          rackId,
          "--generation",
          "3",
          "--file",
          join(dir, "rack.json")
        )
        assert.strictEqual(set.code, 0, set.output)
        assert.include(set.output, "network config generation 3 (20 bytes) stored")
        // Gossip: the node without an API holds it too.
        const gossiped = yield* SubscriptionRef.changes(last.node.networkConfigChanges).pipe(
          Stream.filter(Option.isSome),
          Stream.runHead,
          Effect.timeout("5 seconds")
        )
        assert.strictEqual(
          Option.flatten(gossiped).pipe(
            Option.map((c) => c.generation),
            Option.getOrUndefined
          ),
          3
        )

        const get = yield* tq("network-config", "get", "--api", url, "--out", join(dir, "out.json"))
        assert.strictEqual(get.code, 0, get.output)
        assert.include(get.output, '"generation": 3')
        assert.include(get.output, `"rackId": "${rackId}"`)
        assert.strictEqual(readFileSync(join(dir, "out.json"), "utf8"), '{"ntp":["10.1.1.1"]}')
      }).pipe(Effect.scoped)
  )
})
