/**
 * Framing of the peer protocol: a 4-byte big-endian payload length, then the payload. A frame is at
 * most 1 MiB in all, so a payload is at most 1 MiB − 4 bytes; the sender refuses a larger payload and
 * the receiver refuses a larger announced length before buffering any of it.
 */
import { Result, Schema } from "effect"

/** The largest frame, header included. */
export const maxFrameBytes = 1024 * 1024
/** The largest payload. */
export const maxPayloadBytes = maxFrameBytes - 4

/** A frame over the size limit, announced by a peer or offered by this node. */
export class FrameTooLarge extends Schema.TaggedError<FrameTooLarge>()("FrameTooLarge", {
  length: Schema.Number
}) {
  override get message(): string {
    return `a frame of ${this.length} payload bytes exceeds the limit of ${maxPayloadBytes}`
  }
}

/** The 4-byte header of a payload of `length` bytes. */
export const header = (length: number): Result.Result<Uint8Array, FrameTooLarge> => {
  if (length > maxPayloadBytes) return Result.fail(new FrameTooLarge({ length }))
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, length, false)
  return Result.succeed(out)
}

/** Header and payload in one buffer. */
export const encode = (payload: Uint8Array): Result.Result<Uint8Array, FrameTooLarge> =>
  Result.map(header(payload.length), (h) => {
    const out = new Uint8Array(4 + payload.length)
    out.set(h, 0)
    out.set(payload, 4)
    return out
  })

/**
 * An incremental decoder: push chunks as they arrive, get the complete payloads. It buffers at most
 * one partial frame (≤ 1 MiB); complete payloads are views into the pushed chunks where possible.
 */
export class Decoder {
  #pending: Uint8Array = new Uint8Array(0)

  /** The payloads completed by `chunk`, or the oversize length a peer announced. */
  push(chunk: Uint8Array): Result.Result<ReadonlyArray<Uint8Array>, FrameTooLarge> {
    let buf = chunk
    if (this.#pending.length > 0) {
      buf = new Uint8Array(this.#pending.length + chunk.length)
      buf.set(this.#pending, 0)
      buf.set(chunk, this.#pending.length)
    }
    const out: Array<Uint8Array> = []
    let offset = 0
    while (buf.length - offset >= 4) {
      const length =
        (((buf[offset] ?? 0) << 24) |
          ((buf[offset + 1] ?? 0) << 16) |
          ((buf[offset + 2] ?? 0) << 8) |
          (buf[offset + 3] ?? 0)) >>>
        0
      if (length > maxPayloadBytes) {
        this.#pending = new Uint8Array(0)
        return Result.fail(new FrameTooLarge({ length }))
      }
      if (buf.length - offset - 4 < length) break
      out.push(buf.subarray(offset + 4, offset + 4 + length))
      offset += 4 + length
    }
    this.#pending = offset === buf.length ? new Uint8Array(0) : buf.slice(offset)
    return Result.succeed(out)
  }

  /** Bytes of a partial frame still waiting for the rest. */
  get buffered(): number {
    return this.#pending.length
  }
}
