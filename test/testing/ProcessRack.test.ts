import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ProcessRack from "../../src/testing/ProcessRack.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import { tcpServer } from "../runtime/rawPeer.ts"
import { tempDir } from "../runtime/tempDir.ts"

describe("ProcessRack", () => {
  it.live("a sled whose process exits on its own is reported at once, with the last line it printed", () =>
    Effect.gen(function* () {
      const rack = yield* ProcessRack.make({
        dir: yield* tempDir("process-rack"),
        ids: [BaseboardId.make("913-0000019", "EXIT1")]
      })
      const [sled] = rack.sleds
      if (sled === undefined) throw new Error("sled")
      // Its API port is taken, so the node exits after opening its peer port.
      yield* tcpServer(undefined, Number(new URL(sled.apiUrl).port))
      yield* Effect.ignore(rack.start(0))
      const exit = yield* rack.firstUnexpectedExit.pipe(Effect.timeout("30 seconds"))
      assert.match(exit, /^913-0000019:EXIT1: exit 1: .*(ServeError|EADDRINUSE)/)
      assert.deepStrictEqual(rack.unexpectedExits(), [exit])
      assert.strictEqual(rack.state(0), "stopped")
    })
  )

  it.live("ports are chosen below the ephemeral range, so outgoing connections cannot take them", () =>
    Effect.gen(function* () {
      const ports = yield* Effect.forEach(Array.from({ length: 20 }), () => ProcessRack.freePort)
      for (const port of ports) assert.isTrue(port >= 20_000 && port < 32_000, `port ${port}`)
    })
  )
})
