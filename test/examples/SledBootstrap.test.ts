import { execSync, spawn } from "node:child_process"
import { existsSync } from "node:fs"
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
        // The new sled, read through a member's proxy, got the network config by gossip before its commit.
        assert.match(
          output,
          /913-0000019:BRM42220005 \(no API; read through .*\): network config generation 1, digest [0-9a-f]{16}, commits \[\] — before it is committed/
        )
        assert.match(output, /after restart: network config generation 1 \(from its own ledger\)/)
        const fingerprints = new Set(output.match(/epoch 2 [0-9a-f]{8}/g) ?? [])
        assert.strictEqual(fingerprints.size, 1)
      }),
    120_000
  )
})

describe("examples/sled-bootstrap.ts on Ctrl-C", () => {
  it.live(
    "SIGINT stops it, kills every sled process and removes its temporary directory",
    () =>
      Effect.gen(function* () {
        const result = yield* Effect.callback<{ code: number | null; workdir: string; leftovers: string }>((resume) => {
          const child = spawn(
            process.execPath,
            ["--experimental-strip-types", "--no-warnings", "examples/sled-bootstrap.ts"],
            {
              stdio: ["ignore", "pipe", "pipe"]
            }
          )
          let output = ""
          let signalled = false
          child.stdout.on("data", (d: Buffer) => {
            output += d.toString("utf8")
            if (!signalled && output.includes("[2/8]")) {
              signalled = true
              child.kill("SIGINT")
            }
          })
          child.on("close", (code) => {
            const workdir = /workdir (\S+)\)/.exec(output)?.[1] ?? ""
            const leftovers = execSync("ps -eo args")
              .toString()
              .split("\n")
              .filter((l) => workdir !== "" && l.includes(workdir))
              .join("\n")
            resume(Effect.succeed({ code, workdir, leftovers }))
          })
          return Effect.sync(() => child.kill("SIGKILL"))
        }).pipe(Effect.timeout("60 seconds"))
        assert.notStrictEqual(result.workdir, "")
        assert.notStrictEqual(result.code, 0)
        assert.strictEqual(result.leftovers, "")
        assert.isFalse(existsSync(result.workdir))
      }),
    90_000
  )
})
