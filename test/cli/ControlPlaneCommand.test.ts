import { assert, describe, it } from "@effect/vitest"
import { Exit, Schema } from "effect"
import { RequestLine } from "../../src/cli/ControlPlaneCommand.ts"

const decode = Schema.decodeUnknownExit(RequestLine)

describe("tq control-plane request lines", () => {
  it("decodes a request, and refuses ids and members beyond their bounds", () => {
    assert.deepStrictEqual(
      decode(JSON.stringify({ request: "r1", change: "add", member: "913-0000019:5" })),
      Exit.succeed({ request: "r1", change: "add" as const, member: "913-0000019:5" })
    )
    for (const line of [
      { request: "", change: "rotate" },
      { request: "r".repeat(129), change: "rotate" },
      { request: "r1", change: "add", member: "m".repeat(257) },
      { request: "r1", change: "grow" }
    ]) {
      assert.isTrue(Exit.isFailure(decode(JSON.stringify(line))), JSON.stringify(line).slice(0, 60))
    }
    assert.isTrue(Exit.isSuccess(decode(JSON.stringify({ request: "r".repeat(128), change: "rotate" }))))
  })
})
