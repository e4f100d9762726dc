/**
 * What a hostile peer sends: random bytes after a valid Hello, mutated frames, oversize lengths, wrong
 * protocol versions, and frames without a Hello.
 */
import { Result } from "effect"
import * as fc from "fast-check"
import * as Frame from "../../src/runtime/Frame.ts"
import * as Wire from "../../src/runtime/Wire.ts"
import { sled } from "../runtime/rack.ts"
import { helloFrame } from "../runtime/rawPeer.ts"

/** What a hostile peer sends after (or instead of) a valid Hello. */
export const badInput: fc.Arbitrary<{ readonly label: string; readonly bytes: Uint8Array }> = fc.oneof(
  fc
    .uint8Array({ minLength: 1, maxLength: 300 })
    .map((b) => ({ label: "random bytes", bytes: Buffer.concat([helloFrame(), b]) })),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, value]) => {
    const frame = Result.getOrThrow(Frame.encode(Wire.encode(new Wire.Ping({}))))
    const mutated = Uint8Array.from(frame)
    const i = 4 + (at % Math.max(1, frame.length - 4))
    mutated[i] = value
    return {
      label: "mutated frame",
      bytes: Buffer.concat([helloFrame(), mutated, Result.getOrThrow(Frame.encode(new TextEncoder().encode("{")))])
    }
  }),
  fc.integer({ min: Frame.maxPayloadBytes + 1, max: 0x7fffffff }).map((length) => {
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, length, false)
    return { label: "oversize length", bytes: Buffer.concat([helloFrame(), header]) }
  }),
  fc.integer({ min: 2, max: 50 }).map((v) => ({ label: "wrong version", bytes: helloFrame(sled(9), v) })),
  fc
    .uint8Array({ minLength: 1, maxLength: 200 })
    .map((b) => ({ label: "no hello", bytes: Buffer.concat([Result.getOrThrow(Frame.encode(b))]) }))
)
