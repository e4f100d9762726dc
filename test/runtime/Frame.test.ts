import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as fc from "fast-check"
import * as Frame from "../../src/runtime/Frame.ts"

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(String(r.failure))
  return r.success
}

describe("Frame", () => {
  it("payloads split at arbitrary chunk boundaries decode to the same list (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 10 }),
        (payloads, cuts) => {
          const stream = Buffer.concat(payloads.map((p) => ok(Frame.encode(p))))
          const decoder = new Frame.Decoder()
          const out: Array<Uint8Array> = []
          let offset = 0
          for (let i = 0; offset < stream.length; i++) {
            const size = cuts[i % cuts.length] ?? 1
            out.push(...ok(decoder.push(stream.subarray(offset, offset + size))).map((p) => Uint8Array.from(p)))
            offset += size
          }
          assert.deepStrictEqual(
            out,
            payloads.map((p) => Uint8Array.from(p))
          )
          assert.strictEqual(decoder.buffered, 0)
        }
      ),
      { seed: 11, numRuns: 300 }
    )
  })

  it("an announced length over the limit fails at once, before the payload arrives", () => {
    const decoder = new Frame.Decoder()
    const header = Uint8Array.of(0x00, 0x10, 0x00, 0x01)
    const r = decoder.push(header)
    assert.isTrue(Result.isFailure(r) && r.failure.length === 0x100001)
    assert.strictEqual(decoder.buffered, 0)
  })

  it("the encoder refuses a payload over the limit and accepts one at the limit", () => {
    assert.isTrue(Result.isFailure(Frame.encode(new Uint8Array(Frame.maxPayloadBytes + 1))))
    assert.strictEqual(ok(Frame.encode(new Uint8Array(Frame.maxPayloadBytes))).length, Frame.maxFrameBytes)
  })

  it("a zero-length payload is a frame of its own", () => {
    const decoder = new Frame.Decoder()
    assert.deepStrictEqual(ok(decoder.push(ok(Frame.encode(new Uint8Array(0))))), [new Uint8Array(0)])
  })
})
