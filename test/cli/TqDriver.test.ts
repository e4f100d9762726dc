import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { rackId, sled } from "../runtime/rack.ts"
import { tempDir } from "../runtime/tempDir.ts"
import { apiRack, tq } from "./cliRack.ts"

describe("tq driving a rack", () => {
  it.live(
    "add-sled commits through a proxy; rotate and remove-sled make new epochs; resume has nothing left; unlock-check agrees",
    () =>
      Effect.gen(function* () {
        const { nodes, memberFlags, members } = yield* apiRack
        const dir = yield* tempDir("tq-driver")
        const driver = ["--state", join(dir, "cp.json"), "--rack-id", rackId, ...members]

        const added = yield* tq("add-sled", ...driver, "--sled", String(sled(4)))
        assert.strictEqual(added.code, 0, added.output)
        assert.match(added.stdout, /epoch 1 committed: .*913-0000019:4 \(proxy\)/)
        assert.deepStrictEqual((yield* nodes[4]?.node.status ?? Effect.die("no node")).persistentState.commits, [1])

        const rotated = yield* tq("rotate", ...driver)
        assert.strictEqual(rotated.code, 0, rotated.output)
        assert.match(rotated.stdout, /^epoch 2 committed: /m)

        const removed = yield* tq("remove-sled", ...driver, "--sled", String(sled(4)))
        assert.strictEqual(removed.code, 0, removed.output)
        const line = removed.stdout.split("\n").find((l) => l.startsWith("epoch 3 committed: ")) ?? ""
        assert.notInclude(line, "913-0000019:4")

        const stranger = yield* tq("remove-sled", ...driver, "--sled", "913-0000019:9")
        assert.strictEqual(stranger.code, 1)
        assert.match(stranger.stderr, /^InvalidArgument: --sled "913-0000019:9": expected a member of the rack/)

        const resumed = yield* tq("resume", ...driver)
        assert.strictEqual(resumed.code, 0, resumed.output)
        assert.include(resumed.stdout, "nothing to resume: no configuration is in progress")

        const check = yield* tq("unlock-check", ...memberFlags)
        assert.strictEqual(check.code, 0, check.output)
        const fingerprints = new Set(check.stdout.match(/epoch 3 [0-9a-f]{8}/g))
        assert.strictEqual(fingerprints.size, 1)
        assert.include(check.stdout, "all 4 members unlock the same secret")
      }),
    120_000
  )

  it.live("the README's placeholder rack id is refused with a clear message", () =>
    Effect.gen(function* () {
      const { code, stderr } = yield* tq(
        "add-sled",
        "--state",
        "/tmp/never-written.json",
        "--authority-key",
        "/never/read.key",
        "--rack-id",
        "UUID",
        "--member",
        "913-0000019:BRM1=http://127.0.0.1:1",
        "--sled",
        "913-0000019:BRM5"
      )
      assert.strictEqual(code, 1)
      assert.strictEqual(stderr, `InvalidArgument: --rack-id "UUID": expected a UUID\n`)
    })
  )

  it.live("unlock-check against a node nobody serves fails and names it", () =>
    Effect.gen(function* () {
      const { code, stdout, stderr } = yield* tq("unlock-check", "--member", "913:1=http://127.0.0.1:1")
      assert.strictEqual(code, 1)
      assert.match(stdout, /^913:1: failed: /)
      assert.match(stderr, /^UnlockCheckFailed: the rack does not unlock consistently: 913:1: failed: /)
    })
  )

  it.live("status against an address nobody serves fails non-zero with its tag", () =>
    Effect.gen(function* () {
      const { code, stderr } = yield* tq("status", "--api", "http://127.0.0.1:1")
      assert.strictEqual(code, 1)
      assert.match(stderr, /^HttpClientError: /)
    })
  )
})
