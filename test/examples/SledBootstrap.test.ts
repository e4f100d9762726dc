import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runScript } from "./script.ts"

describe("examples/sled-bootstrap.ts (npm start)", () => {
  it.live(
    "runs the whole story with separate sled processes and exits 0; the new sled was committed through the proxy",
    () =>
      Effect.gen(function* () {
        const { code, output } = yield* runScript(["examples/sled-bootstrap.ts"]).pipe(Effect.timeout("110 seconds"))
        assert.strictEqual(code, 0, output)
        assert.match(output, /\| 2 +\| 913-0000019:BRM42220005 \| proxy /)
        assert.include(output, "all sleds agree on the secret of epoch 2")
        const fingerprints = new Set(output.match(/epoch 2 [0-9a-f]{8}/g) ?? [])
        assert.strictEqual(fingerprints.size, 1)
      }),
    120_000
  )
})
