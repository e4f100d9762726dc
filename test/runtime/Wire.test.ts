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

  describe("a connection's proxy decoder and encoder", () => {
    const utf8 = new TextEncoder()
    /** A proxy frame's text as a peer writes it (`proxyText`), with an id of its own. */
    const base = fc.oneof(
      fc.record(
        {
          _tag: fc.constant("ProxyRequest" as const),
          requestId: fc.nat(),
          operation: fc.constantFrom("Status", "Commit"),
          payload: fc.oneof(fc.constant({}), fc.jsonValue()),
          trace: traceContext
        },
        { requiredKeys: ["_tag", "requestId", "operation", "payload"] }
      ),
      fc.record({
        _tag: fc.constant("ProxyResponse" as const),
        requestId: fc.nat(),
        outcome: fc.constantFrom("success" as const, "failure" as const, "rejected" as const),
        value: fc.jsonValue()
      })
    )
    /** A text's parts around its leading request id, if it has one. */
    const split = (text: string) => {
      const m = /^(\{"_tag":"Proxy(?:Request|Response)","requestId":)(\d+)(.*)$/s.exec(text)
      return m === null ? undefined : { prefix: m[1] ?? "", id: m[2] ?? "", rest: m[3] ?? "" }
    }
    /**
     * Texts a peer might send on one connection: the canonical text of a few frames and near misses of it — a
     * later duplicate of the id (JSON keeps the last), plain or escaped, an extra key, spacing — each of which a
     * cache could remember wrongly, then any of them again under other ids, odd ones included.
     */
    const session = fc.array(base, { minLength: 1, maxLength: 4 }).chain((frames) => {
      const pool = frames.flatMap((f) => {
        const text = Wire.proxyText(f)
        const parts = split(text)
        if (parts === undefined) return [text]
        const { prefix, id, rest } = parts
        const open = rest.slice(0, -1)
        return [
          text,
          `${prefix}${id}${open},"requestId":${id}}`,
          `${prefix}${id}${open},"request\\u0049d":${id}}`,
          `${prefix}${id}${open},"extra":1}`,
          `${prefix}${id} ${rest}`,
          text.replace(":", ": ")
        ]
      })
      const reId = (text: string) => {
        const parts = split(text)
        return parts === undefined
          ? fc.constant(text)
          : fc
              .oneof(
                { weight: 4, arbitrary: fc.nat().map(String) },
                fc.constantFrom("-1", "01", "1.5", "1e3", "9007199254740993", "99999999999999999999", "", " 7", "null")
              )
              .map((id) => `${parts.prefix}${id}${parts.rest}`)
      }
      return fc.array(
        fc.constantFrom(...pool).chain((t) => fc.oneof(fc.constant(t), reId(t))),
        { minLength: 1, maxLength: 30 }
      )
    })

    it("decodes every frame of a connection exactly as decodeProxy does (property)", () => {
      let reused = 0
      fc.assert(
        fc.property(session, (texts) => {
          const decoder = new Wire.ProxyDecoder()
          let previous: Wire.ProxyFrame | undefined
          for (const text of texts) {
            const bytes = utf8.encode(text)
            const decoded = decoder.decode(bytes)
            assert.deepStrictEqual(decoded, Wire.decodeProxy(bytes), text)
            // The cache really serves: an answer equal to the last one shares its value.
            if (decoded !== undefined && previous !== undefined && decoded !== previous) {
              const same =
                decoded._tag === "ProxyResponse" && previous._tag === "ProxyResponse"
                  ? decoded.value === previous.value
                  : decoded._tag === "ProxyRequest" && previous._tag === "ProxyRequest"
                    ? decoded.payload === previous.payload
                    : false
              if (same && typeof (decoded._tag === "ProxyResponse" ? decoded.value : decoded.payload) === "object")
                reused++
            }
            previous = decoded
          }
        }),
        { seed: 17, numRuns: 1000 }
      )
      assert.isAbove(reused, 100)
    })

    it("the bytes a decoder read into may be reused: what it remembers is its own copy", () => {
      const decoder = new Wire.ProxyDecoder()
      const text = Wire.proxyText({ _tag: "ProxyResponse", requestId: 1, outcome: "success", value: { epoch: 1 } })
      const buffer = Buffer.from(text)
      decoder.decode(buffer)
      buffer.write(text.replace('"epoch":1', '"epoch":2'))
      assert.deepStrictEqual(decoder.decode(buffer), {
        _tag: "ProxyResponse",
        requestId: 1,
        outcome: "success",
        value: { epoch: 2 }
      })
    })

    it("keeps a small frame to reuse, and never one over rememberedBytes", () => {
      const decoder = new Wire.ProxyDecoder()
      const answer = (requestId: number, value: unknown) =>
        utf8.encode(Wire.proxyText({ _tag: "ProxyResponse", requestId, outcome: "success", value }))
      const answerValue = (frame: Wire.ProxyFrame | undefined) => (frame?._tag === "ProxyResponse" ? frame.value : null)
      const small = { peers: ["0", "1"] }
      const first = decoder.decode(answer(1, small))
      const second = decoder.decode(answer(2, small))
      assert.deepStrictEqual(second, { _tag: "ProxyResponse", requestId: 2, outcome: "success", value: small })
      assert.strictEqual(answerValue(second), answerValue(first), "the second answer reuses the first one's value")
      // Over the bound: decoded all the same, from its own bytes each time.
      const big = { blob: "x".repeat(Wire.rememberedBytes) }
      const third = decoder.decode(answer(3, big))
      const fourth = decoder.decode(answer(4, big))
      assert.deepStrictEqual(fourth, { _tag: "ProxyResponse", requestId: 4, outcome: "success", value: big })
      assert.notStrictEqual(answerValue(fourth), answerValue(third), "a frame over the bound is not kept")
      // And the small one kept before is still there.
      assert.strictEqual(answerValue(decoder.decode(answer(5, small))), answerValue(first))
    })

    it("writes every frame exactly as proxyText does, values reused or not (property)", () => {
      fc.assert(
        fc.property(
          fc.array(base, { minLength: 1, maxLength: 4 }),
          fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 30 }),
          (frames, picks) => {
            const encoder = new Wire.ProxyEncoder()
            for (const [pick, id] of picks) {
              const frame = frames[pick % frames.length]
              if (frame === undefined) continue
              // The same value object again, under a new id: the encoder's remembered text.
              const again = { ...frame, requestId: id }
              assert.strictEqual(encoder.text(again), Wire.proxyText(again))
            }
          }
        ),
        { seed: 19, numRuns: 500 }
      )
      const encoder = new Wire.ProxyEncoder()
      const undefinedValue: Wire.ProxyFrame = {
        _tag: "ProxyResponse",
        requestId: 3,
        outcome: "success",
        value: undefined
      }
      assert.strictEqual(encoder.text(undefinedValue), '{"_tag":"ProxyResponse","requestId":3,"outcome":"success"}')
      // A value over the bound, twice, then another: each written whole.
      const big: Wire.ProxyFrame = {
        _tag: "ProxyResponse",
        requestId: 4,
        outcome: "success",
        value: { blob: "x".repeat(Wire.rememberedBytes) }
      }
      for (const frame of [big, { ...big, requestId: 5 }, { ...big, requestId: 6, value: [1] }])
        assert.strictEqual(encoder.text(frame), Wire.proxyText(frame))
    })
  })
})
