import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as fc from "fast-check"
import * as Wire from "../../src/runtime/Wire.ts"
import { seeded } from "../../src/testing/SeededRng.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import * as Configuration from "../../src/types/Configuration.ts"
import { GetShare, PeerMsg, Prepare } from "../../src/types/PeerMsg.ts"

const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const members = ["0", "1", "2", "3"].map((s) => BaseboardId.make("913-0000019", s))
const made = Configuration.newConfiguration(
  {
    rackId,
    epoch: 1,
    members,
    threshold: 3,
    coordinator: members[0] ?? BaseboardId.make("p", "0"),
    authorization: { lastCommittedEpoch: null, signature: new Uint8Array(64).fill(5) }
  },
  seeded(1)
)
if (Result.isFailure(made)) throw new Error("newConfiguration failed")
const { configuration, shares } = made.success
const share = shares.get(members[1]?.key ?? "") ?? { x: 2, y: new Uint8Array(32) }

const frames: ReadonlyArray<Wire.Frame> = [
  new Wire.Hello({
    id: members[0] ?? BaseboardId.make("p", "0"),
    listenAddress: { host: "127.0.0.1", port: 4000 },
    protocolVersion: 1
  }),
  new Wire.Ping({}),
  new Wire.Peer({ msg: new PeerMsg({ rackId, kind: new GetShare({ epoch: 1, proof: new Uint8Array(64) }) }) }),
  new Wire.Peer({ msg: new PeerMsg({ rackId, kind: new Prepare({ config: configuration, share }) }) }),
  new Wire.ProxyRequest({ requestId: 7, operation: "Status", payload: {} }),
  new Wire.ProxyResponse({ requestId: 7, outcome: "failure", value: { _tag: "NotPrepared", epoch: 2 } })
]

const decodeOk = (bytes: Uint8Array): Wire.Frame => {
  const r = Wire.decode(bytes)
  if (Result.isFailure(r)) throw new Error(r.failure.message)
  return r.success
}

describe("Wire", () => {
  /** A trace context, as a proxy request may carry one. */
  const traceContext = fc.record({ traceId: fc.string(), spanId: fc.string() })

  it("every kind of frame round-trips", () => {
    for (const frame of frames) {
      const back = decodeOk(Wire.encode(frame))
      assert.strictEqual(back._tag, frame._tag)
      assert.deepStrictEqual(Wire.encode(back), Wire.encode(frame))
    }
  })

  it("a Prepare keeps its configuration and share bytes", () => {
    const back = decodeOk(Wire.encode(frames[3] ?? new Wire.Ping({})))
    assert.isTrue(back._tag === "Peer" && back.msg.kind._tag === "Prepare")
    if (back._tag === "Peer" && back.msg.kind._tag === "Prepare") {
      assert.isTrue(Configuration.equals(back.msg.kind.config, configuration))
      assert.deepStrictEqual(back.msg.kind.share.y, share.y)
    }
  })

  it("bytes that are not UTF-8 fail with WireDecodeError", () => {
    const r = Wire.decode(Uint8Array.of(0xff, 0xfe, 0x7b))
    assert.isTrue(
      Result.isFailure(r) && r.failure._tag === "WireDecodeError" && r.failure.issue === "payload is not UTF-8"
    )
  })

  it("a frame of an unknown kind fails with WireDecodeError", () => {
    const r = Wire.decode(new TextEncoder().encode(JSON.stringify({ _tag: "Shutdown" })))
    assert.isTrue(Result.isFailure(r))
  })

  it("the error names where a frame failed, never the values it carried", () => {
    const text = new TextDecoder().decode(Wire.encode(frames[3] ?? new Wire.Ping({})))
    const y = Buffer.from(share.y).toString("base64")
    const corrupt = text.replace(`"x":${share.x}`, `"x":"${y}"`)
    const r = Wire.decode(new TextEncoder().encode(corrupt))
    assert.isTrue(Result.isFailure(r))
    if (Result.isFailure(r)) {
      assert.include(r.failure.message, "share")
      assert.notInclude(r.failure.message, y)
    }
  })

  it("random bytes never throw: they decode or fail with WireDecodeError (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = Wire.decode(bytes)
        assert.isTrue(Result.isSuccess(r) || r.failure._tag === "WireDecodeError")
      }),
      { seed: 3, numRuns: 2000 }
    )
  })

  it("proxy frames, encoded on their direct path, are exactly what the Schema codec writes (property)", () => {
    const codec = Schema.encodeSync(Schema.fromJsonString(Schema.toCodecJson(Wire.Frame)))
    const utf8 = new TextDecoder()
    const proxyFrame = fc.oneof(
      fc
        .record(
          { requestId: fc.nat(), operation: fc.string(), payload: fc.jsonValue(), trace: traceContext },
          { requiredKeys: ["requestId", "operation", "payload"] }
        )
        .map((f) => new Wire.ProxyRequest(f)),
      fc
        .record({
          requestId: fc.nat(),
          outcome: fc.constantFrom("success" as const, "failure" as const, "rejected" as const),
          value: fc.jsonValue()
        })
        .map((f) => new Wire.ProxyResponse(f))
    )
    fc.assert(
      fc.property(proxyFrame, (frame) => {
        const direct = Wire.encode(frame)
        assert.deepStrictEqual(JSON.parse(utf8.decode(direct)), JSON.parse(codec(frame)))
        // Both texts decode to the same frame (JSON itself, on either path, turns -0 into 0).
        assert.deepStrictEqual(decodeOk(direct), decodeOk(new TextEncoder().encode(codec(frame))))
      }),
      { seed: 5, numRuns: 500 }
    )
  })

  it("the proxy fast path accepts only what the Schema accepts, and decodes it to equal frames (property)", () => {
    const schemaDecode = Schema.decodeUnknownResult(Schema.fromJsonString(Schema.toCodecJson(Wire.Frame)))
    const utf8 = new TextEncoder()
    // Near misses of both proxy shapes: every key optional, extra keys, ids and outcomes of every kind.
    const id = fc.oneof(
      { weight: 4, arbitrary: fc.integer() },
      fc.double(),
      fc.constantFrom(2 ** 53, -(2 ** 53), 1e300, -0),
      fc.string(),
      fc.constant(null)
    )
    const outcome = fc.oneof(fc.constantFrom("success", "failure", "rejected"), fc.string())
    const near = fc.record(
      {
        _tag: fc.constantFrom("ProxyRequest", "ProxyResponse", "Ping", "proxyrequest"),
        requestId: id,
        operation: fc.oneof(fc.string(), fc.integer()),
        payload: fc.jsonValue(),
        outcome,
        value: fc.jsonValue(),
        trace: fc.oneof(traceContext, fc.jsonValue(), fc.record({ traceId: fc.string(), spanId: fc.integer() })),
        extra: fc.jsonValue()
      },
      { requiredKeys: [] }
    )
    const exact = fc.oneof(
      fc.record({ _tag: fc.constant("ProxyRequest"), requestId: id, operation: fc.string(), payload: fc.jsonValue() }),
      fc.record({
        _tag: fc.constant("ProxyRequest"),
        requestId: id,
        operation: fc.string(),
        payload: fc.jsonValue(),
        trace: traceContext
      }),
      fc.record({ _tag: fc.constant("ProxyResponse"), requestId: id, outcome, value: fc.jsonValue() })
    )
    const text = fc.oneof(
      exact.map((o) => JSON.stringify(o)),
      near.map((o) => JSON.stringify(o)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string()
    )
    let taken = 0
    fc.assert(
      fc.property(text, (t) => {
        const bytes = utf8.encode(t)
        const expected = schemaDecode(t)
        const fast = Wire.decodeProxy(bytes)
        const decoded = Wire.decode(bytes)
        assert.strictEqual(Result.isSuccess(decoded), Result.isSuccess(expected), t)
        if (Result.isSuccess(decoded) && Result.isSuccess(expected)) {
          assert.deepStrictEqual(decoded.success, expected.success)
          assert.strictEqual(Object.getPrototypeOf(decoded.success), Object.getPrototypeOf(expected.success))
        }
        if (fast !== undefined) {
          taken++
          // Whatever the fast path takes, the Schema takes too, with the same fields.
          assert.isTrue(Result.isSuccess(expected), t)
          if (Result.isSuccess(expected)) assert.deepStrictEqual({ ...fast }, { ...expected.success })
        }
      }),
      { seed: 11, numRuns: 5000 }
    )
    // The generator reaches the fast path often enough for the property to mean something.
    assert.isAbove(taken, 200)
  })
})
