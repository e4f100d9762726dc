import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as fc from "fast-check"
import * as BaseboardId from "../../src/types/BaseboardId.ts"

describe("BaseboardId", () => {
  it("displays as part:serial", () => {
    assert.strictEqual(String(BaseboardId.make("913-0000019", "BRM42")), "913-0000019:BRM42")
  })

  it("orders serials bytewise, so '10' sorts before '2'", () => {
    const ids = ["2", "10", "1", "0", "15"].map((s) => BaseboardId.make("p", s))
    assert.deepStrictEqual(
      BaseboardId.sortUnique(ids).map((id) => id.serialNumber),
      ["0", "1", "10", "15", "2"]
    )
  })

  it("compares the part number before the serial number", () => {
    assert.strictEqual(BaseboardId.order(BaseboardId.make("a", "9"), BaseboardId.make("b", "0")), -1)
    assert.strictEqual(BaseboardId.order(BaseboardId.make("b", "0"), BaseboardId.make("a", "9")), 1)
    assert.strictEqual(BaseboardId.order(BaseboardId.make("a", "1"), BaseboardId.make("a", "1")), 0)
  })

  it("orders by UTF-8 bytes, not UTF-16 code units", () => {
    // U+FF61 is one UTF-16 unit above U+D83D (a surrogate), but its UTF-8 bytes sort below those of U+1F600.
    const a = BaseboardId.make("p", "\uFF61")
    const b = BaseboardId.make("p", "\u{1F600}")
    assert.strictEqual(BaseboardId.order(a, b), -1)
  })

  it("order is a total order consistent with equality (property)", () => {
    const id = fc
      .tuple(
        fc.string({ minLength: 1 }).filter((s) => !s.includes(":")),
        fc.string({ minLength: 1 })
      )
      .map(([p, s]) => BaseboardId.make(p, s))
    fc.assert(
      fc.property(id, id, (a, b) => {
        const ab = BaseboardId.order(a, b)
        assert.strictEqual(ab, -BaseboardId.order(b, a) || 0)
        assert.strictEqual(ab === 0, BaseboardId.equals(a, b))
      }),
      { seed: 7 }
    )
  })

  it("sortUnique removes duplicates", () => {
    const ids = BaseboardId.sortUnique([BaseboardId.make("p", "1"), BaseboardId.make("p", "1")])
    assert.strictEqual(ids.length, 1)
  })

  it("parses its display form and rejects malformed ones", () => {
    const id = BaseboardId.fromString("913:ab:c")
    assert.strictEqual(id?.partNumber, "913")
    assert.strictEqual(id?.serialNumber, "ab:c")
    assert.isUndefined(BaseboardId.fromString(":x"))
    assert.isUndefined(BaseboardId.fromString("x:"))
    assert.isUndefined(BaseboardId.fromString("x"))
  })

  it("refuses a part number containing ':' when decoding", () => {
    const decoded = Schema.decodeUnknownExit(BaseboardId.BaseboardId)({ partNumber: "a:b", serialNumber: "1" })
    assert.strictEqual(decoded._tag, "Failure")
  })
})
