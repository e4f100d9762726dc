import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as RateLimitedLog from "../../src/runtime/RateLimitedLog.ts"
import { captureLogs } from "./logs.ts"

describe("RateLimitedLog", () => {
  it.effect("logs the first events of an interval in full and the rest as one summary line per interval", () => {
    const logs = captureLogs("Warn")
    return Effect.gen(function* () {
      const log = yield* RateLimitedLog.make({
        subject: "peer connections refused",
        perInterval: 2,
        interval: "10 seconds"
      })
      for (const reason of ["Timeout", "Timeout", "Timeout", "Unauthenticated", "Timeout"]) {
        log.record(reason, `refused (${reason})`, { remote: "127.0.0.1:1" })
      }
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(logs.lines, [
        "WARN refused (Timeout)",
        "WARN refused (Timeout)",
        "WARN 3 more peer connections refused in the last 10s were not logged one by one: Timeout ×2, Unauthenticated ×1"
      ])
      // A new interval has its own allowance; a quiet interval logs nothing.
      log.record("Timeout", "refused again")
      yield* TestClock.adjust("20 seconds")
      assert.deepStrictEqual(logs.lines.slice(3), ["WARN refused again"])
    }).pipe(Effect.provide(logs.layer))
  })
})
