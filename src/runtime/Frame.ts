/**
 * Framing of the peer protocol: a 4-byte big-endian payload length, then the payload. A frame is at
 * most `maxFrameBytes` (1 MiB) header included — omicron's receiver limit, so a payload is at most
 * 1 MiB − 4 bytes — and both sides enforce it: the encoder refuses a larger payload, the decoder refuses
 * a larger announced length as soon as it has read the header, before buffering any of the payload.
 */
import { Result, Schema } from "effect"

/** The largest frame, header included (1 MiB). */
export const maxFrameBytes = 1024 * 1024
/** The length prefix. */
export const headerBytes = 4
/** The largest payload: 1 MiB − 4, the same bound as omicron's `MAX_FRAME_SIZE`. */
export const maxPayloadBytes = maxFrameBytes - headerBytes

/** A frame over the size limit, announced by a peer or offered by this node. */
export class FrameTooLarge extends Schema.TaggedError<FrameTooLarge>()("FrameTooLarge", {
  length: Schema.Number
}) {
  override get message(): string {
    return `a frame of ${this.length} payload bytes exceeds the limit of ${maxPayloadBytes}; split the message or drop the peer`
  }
}

/** Writes the header of a `length`-byte payload into `target` at `offset`; the caller checked the limit. */
export const writeHeader = (target: Uint8Array, offset: number, length: number): void => {
  target[offset] = length >>> 24
  target[offset + 1] = (length >>> 16) & 0xff
  target[offset + 2] = (length >>> 8) & 0xff
  target[offset + 3] = length & 0xff
}

const readHeader = (source: Uint8Array, offset: number): number =>
  (((source[offset] ?? 0) << 24) |
    ((source[offset + 1] ?? 0) << 16) |
    ((source[offset + 2] ?? 0) << 8) |
    (source[offset + 3] ?? 0)) >>>
  0

/** The 4-byte header of a payload of `length` bytes. */
export const header = (length: number): Result.Result<Uint8Array, FrameTooLarge> => {
  if (length > maxPayloadBytes) return Result.fail(new FrameTooLarge({ length }))
  const out = new Uint8Array(headerBytes)
  writeHeader(out, 0, length)
  return Result.succeed(out)
}

/** Header and payload in one buffer. */
export const encode = (payload: Uint8Array): Result.Result<Uint8Array, FrameTooLarge> => {
  if (payload.length > maxPayloadBytes) return Result.fail(new FrameTooLarge({ length: payload.length }))
  const out = new Uint8Array(headerBytes + payload.length)
  writeHeader(out, 0, payload.length)
  out.set(payload, headerBytes)
  return Result.succeed(out)
}

/**
 * An incremental decoder: push chunks as they arrive, get the complete payloads. A payload that lies
 * whole inside one chunk is returned as a view of that chunk (no copy); one that spans chunks is
 * assembled in a buffer of exactly its announced size, allocated once when its header is complete, so
 * the decoder holds at most one partial frame (≤ 1 MiB) and copies each byte at most once. A failing
 * push returns no payloads, and the decoder stays failed: the stream has lost its framing.
 */
export class Decoder {
  readonly #header = new Uint8Array(headerBytes)
  #headerFill = 0
  #body: Uint8Array | undefined = undefined
  #bodyFill = 0
  #failed: FrameTooLarge | undefined = undefined

  /** The payloads completed by `chunk`, or the oversize length a peer announced. */
  push(chunk: Uint8Array): Result.Result<Array<Uint8Array>, FrameTooLarge> {
    if (this.#failed !== undefined) return Result.fail(this.#failed)
    const out: Array<Uint8Array> = []
    let offset = 0
    const end = chunk.length
    while (offset < end) {
      const body = this.#body
      if (body !== undefined) {
        // Continue a payload that spans chunks.
        const n = Math.min(body.length - this.#bodyFill, end - offset)
        body.set(chunk.subarray(offset, offset + n), this.#bodyFill)
        this.#bodyFill += n
        offset += n
        if (this.#bodyFill === body.length) {
          out.push(body)
          this.#body = undefined
          this.#bodyFill = 0
        }
        continue
      }
      let length: number
      if (this.#headerFill === 0 && end - offset >= headerBytes) {
        length = readHeader(chunk, offset)
        offset += headerBytes
      } else {
        // A header split across chunks: collect its bytes first.
        const n = Math.min(headerBytes - this.#headerFill, end - offset)
        this.#header.set(chunk.subarray(offset, offset + n), this.#headerFill)
        this.#headerFill += n
        offset += n
        if (this.#headerFill < headerBytes) break
        this.#headerFill = 0
        length = readHeader(this.#header, 0)
      }
      if (length > maxPayloadBytes) {
        this.#failed = new FrameTooLarge({ length })
        return Result.fail(this.#failed)
      }
      if (end - offset >= length) {
        out.push(chunk.subarray(offset, offset + length))
        offset += length
      } else {
        this.#body = new Uint8Array(length)
        this.#bodyFill = 0
      }
    }
    return Result.succeed(out)
  }

  /** Bytes of a partial frame received so far (header bytes included). */
  get buffered(): number {
    return this.#body === undefined ? this.#headerFill : headerBytes + this.#bodyFill
  }
}
