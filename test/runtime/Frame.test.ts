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

  it("an announced length over the limit fails as soon as the header is complete, before any payload", () => {
    const decoder = new Frame.Decoder()
    assert.deepStrictEqual(ok(decoder.push(Uint8Array.of(0x00, 0x10))), [])
    assert.strictEqual(decoder.buffered, 2)
    const r = decoder.push(Uint8Array.of(0x00, 0x01))
    assert.isTrue(Result.isFailure(r))
    if (Result.isFailure(r)) {
      assert.strictEqual(r.failure._tag, "FrameTooLarge")
      assert.strictEqual(r.failure.length, 0x100001)
    }
    assert.strictEqual(decoder.buffered, 0)
  })

  it("a decoder that saw an oversize length stays failed", () => {
    const decoder = new Frame.Decoder()
    assert.isTrue(Result.isFailure(decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff))))
    assert.isTrue(Result.isFailure(decoder.push(ok(Frame.encode(Uint8Array.of(1))))))
  })

  it("the encoder refuses a payload over the limit and accepts one at the limit", () => {
    const over = Frame.encode(new Uint8Array(Frame.maxPayloadBytes + 1))
    assert.isTrue(Result.isFailure(over) && over.failure.length === Frame.maxPayloadBytes + 1)
    assert.isTrue(Result.isFailure(Frame.header(Frame.maxPayloadBytes + 1)))
    assert.strictEqual(ok(Frame.encode(new Uint8Array(Frame.maxPayloadBytes))).length, Frame.maxFrameBytes)
  })

  it("a zero-length payload is a frame of its own", () => {
    const decoder = new Frame.Decoder()
    const two = Buffer.concat([ok(Frame.encode(new Uint8Array(0))), ok(Frame.encode(new Uint8Array(0)))])
    assert.deepStrictEqual(ok(decoder.push(two)), [new Uint8Array(0), new Uint8Array(0)])
    assert.strictEqual(decoder.buffered, 0)
  })

  it("a payload inside one chunk is a view of that chunk, not a copy", () => {
    const chunk = Buffer.concat([ok(Frame.encode(Uint8Array.of(1, 2, 3))), ok(Frame.encode(Uint8Array.of(4)))])
    const [first, second] = ok(new Frame.Decoder().push(chunk))
    assert.strictEqual(first?.buffer, chunk.buffer)
    assert.strictEqual(first?.byteOffset, chunk.byteOffset + 4)
    assert.deepStrictEqual(Uint8Array.from(second ?? []), Uint8Array.of(4))
  })

  it("a frame at the limit arriving in 1 KiB chunks is buffered once and never beyond its size", () => {
    const payload = new Uint8Array(Frame.maxPayloadBytes).map((_, i) => i % 251)
    const stream = ok(Frame.encode(payload))
    const decoder = new Frame.Decoder()
    const out: Array<Uint8Array> = []
    for (let offset = 0; offset < stream.length; offset += 1024) {
      out.push(...ok(decoder.push(stream.subarray(offset, offset + 1024))))
      assert.isAtMost(decoder.buffered, Frame.maxFrameBytes)
    }
    assert.strictEqual(out.length, 1)
    assert.deepStrictEqual(out[0], payload)
  })

  it("writeHeader writes the length big-endian", () => {
    const target = new Uint8Array(6)
    Frame.writeHeader(target, 1, 0x01020304)
    assert.deepStrictEqual(target, Uint8Array.of(0, 1, 2, 3, 4, 0))
  })
})
