/**
 * The wire protocol between nodes: one Schema union for every frame a link carries, and its codec.
 *
 * A frame payload is the UTF-8 JSON text of `Schema.toCodecJson(Frame)` (bytes as base64). Measured on
 * the 2-core CI machine (Node 24), `SchemaBinary` was 10–35% faster and ~40% smaller (GetShare: 6 µs
 * vs 10 µs to encode; a 32-member Prepare: 237 µs vs 261 µs), but it is marked unstable and its
 * handling of hostile input is unproven, while `JSON.parse` is hardened native code whose cost is
 * bounded by the 1 MiB frame limit; the Schema decode dominates either way. So: JSON. Every received
 * payload is decoded with the Schema — except a proxy frame of exactly its shape, which one `JSON.parse`
 * and a shape check decode to the same value (a property test proves it), since proxy frames are the hot
 * path and their fields are plain JSON — and one that does not decode is a typed `WireDecodeError`, which
 * closes the link. Each link decodes and writes its proxy frames through a `ProxyDecoder` and a `ProxyEncoder`,
 * which skip the parse of a frame that repeats the last one but for its id, and the serialization of an answer
 * that repeats the last one's value.
 */
import { Result, Schema, SchemaIssue } from "effect"
import { BaseboardId } from "../types/BaseboardId.ts"
import { NetworkConfig as SignedNetworkConfig } from "../types/NetworkConfig.ts"
import { PeerMsg } from "../types/PeerMsg.ts"

/**
 * The version of this wire protocol; a peer speaking another version is refused at the handshake.
 * Version 2: decisions carry the control plane's signatures (configurations their signed
 * reconfiguration, `CommitAdvance` and `Expunged` a commit proof), and shares are exactly 32 bytes.
 * Version 3: the `NetworkConfig` frame (a version-2 peer would close the link on it).
 */
export const protocolVersion = 3

/** A listen address as carried in the handshake. */
export const ListenAddress = Schema.Struct({
  host: Schema.String,
  port: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))
})
export type ListenAddress = typeof ListenAddress.Type

/** The first frame on every link, in both directions: who I am and where I listen. */
export class Hello extends Schema.TaggedClass<Hello>()("Hello", {
  id: BaseboardId,
  listenAddress: ListenAddress,
  protocolVersion: Schema.Int
}) {}

/** Keep-alive; carries nothing. */
export class Ping extends Schema.TaggedClass<Ping>()("Ping", {}) {}

/** A protocol message. */
export class Peer extends Schema.TaggedClass<Peer>()("Peer", { msg: PeerMsg }) {}

/** A span's identity, carried across the proxy so a trace continues at the destination. */
export const TraceContext = Schema.Struct({ traceId: Schema.String, spanId: Schema.String })
export type TraceContext = typeof TraceContext.Type

/** A control-plane operation forwarded to this node by a peer (the proxy). `payload` is operation-encoded JSON. */
export class ProxyRequest extends Schema.TaggedClass<ProxyRequest>()("ProxyRequest", {
  requestId: Schema.Int,
  operation: Schema.String,
  payload: Schema.Unknown,
  /** The sender's span (W3C ids), so the destination serves the request in the sender's trace. */
  trace: Schema.optionalKey(TraceContext)
}) {}

/** The answer to a `ProxyRequest`: the operation's encoded success or failure. */
export class ProxyResponse extends Schema.TaggedClass<ProxyResponse>()("ProxyResponse", {
  requestId: Schema.Int,
  outcome: Schema.Literals(["success", "failure", "rejected"]),
  value: Schema.Unknown
}) {}

/** A node's network config, pushed on every new link and passed on when a higher generation is adopted. */
export class NetworkConfig extends Schema.TaggedClass<NetworkConfig>()("NetworkConfig", {
  config: SignedNetworkConfig
}) {}

export const Frame = Schema.Union([Hello, Ping, Peer, ProxyRequest, ProxyResponse, NetworkConfig])
export type Frame = typeof Frame.Type

/** A received payload that is not a valid frame. The message names the Schema issue, never payload bytes. */
export class WireDecodeError extends Schema.TaggedError<WireDecodeError>()("WireDecodeError", {
  issue: Schema.String
}) {
  override get message(): string {
    return `a peer sent a frame that does not decode (${this.issue}); the link is closed`
  }
}

/** A proxy frame as plain data: what the hot path builds and reads (a class instance costs ~5 µs to construct). */
export type ProxyFrame =
  | {
      readonly _tag: "ProxyRequest"
      readonly requestId: number
      readonly operation: string
      readonly payload: unknown
      readonly trace?: TraceContext
    }
  | {
      readonly _tag: "ProxyResponse"
      readonly requestId: number
      readonly outcome: ProxyResponse["outcome"]
      readonly value: unknown
    }

const codec = Schema.fromJsonString(Schema.toCodecJson(Frame))
const encodeText = Schema.encodeSync(codec)
const decodeText = Schema.decodeUnknownResult(codec)
const decodeJson = Schema.decodeUnknownResult(Schema.toCodecJson(Frame))
const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * The payload text of a proxy frame. Its fields are an integer, strings and a value that is already the
 * JSON of an operation's codec, so `JSON.stringify` gives exactly the Schema codec's text at a tenth of the cost.
 */
export const proxyText = (frame: ProxyFrame): string =>
  frame._tag === "ProxyRequest"
    ? JSON.stringify({
        _tag: frame._tag,
        requestId: frame.requestId,
        operation: frame.operation,
        payload: frame.payload,
        trace: frame.trace
      })
    : JSON.stringify({ _tag: frame._tag, requestId: frame.requestId, outcome: frame.outcome, value: frame.value })

/**
 * The most a link's `ProxyEncoder` or `ProxyDecoder` keeps of one frame, in bytes (characters, for the
 * encoder's text). A `Status` answer is about 2 KB for a 32-member rack, plus a few bytes for every epoch the
 * node has held (it lists its configs, shares and commits by epoch), so thousands of epochs fit; the other
 * operations' frames are smaller. A bigger frame is written or read as if nothing were kept, so a peer's 1 MiB
 * frames never stay in memory after they are handled: a link keeps at most three frames of this size.
 */
export const rememberedBytes = 64 * 1024

/**
 * Writes the proxy frames of one connection like `proxyText`, remembering the text of the last response's
 * value: an answer whose value is the very same object as the last one's (a `Status` answered from an
 * unchanged snapshot) is written around that text instead of serializing the value again. Values are never
 * mutated on the hot path, so the same object has the same text.
 */
export class ProxyEncoder {
  #value: unknown = undefined
  #valueText: string | undefined = undefined

  text(frame: ProxyFrame): string {
    if (frame._tag === "ProxyRequest") return proxyText(frame)
    const valueText =
      frame.value === this.#value && this.#valueText !== undefined ? this.#valueText : JSON.stringify(frame.value)
    // Only a value within the bound is kept, so a link holds at most `rememberedBytes` of text here.
    const kept = valueText !== undefined && valueText.length <= rememberedBytes
    this.#value = kept ? frame.value : undefined
    this.#valueText = kept ? valueText : undefined
    // `JSON.stringify` leaves out a key whose value has no JSON text (undefined), so does the whole frame's.
    return valueText === undefined
      ? proxyText(frame)
      : `{"_tag":"ProxyResponse","requestId":${JSON.stringify(frame.requestId)},"outcome":${JSON.stringify(frame.outcome)},"value":${valueText}}`
  }
}

/** The UTF-8 bytes of a payload text. */
export const utf8 = (text: string): Uint8Array => utf8Encoder.encode(text)

/** Encodes a frame into its payload bytes: proxy frames on their direct path, every other frame by the Schema. */
export const encode = (frame: Frame): Uint8Array =>
  frame._tag === "ProxyRequest" || frame._tag === "ProxyResponse" ? utf8(proxyText(frame)) : utf8(encodeText(frame))

const hasExactly = (o: object, keys: number): boolean => Object.keys(o).length === keys

/** A trace context of exactly its shape: two string ids and no other key. */
const traceShape = (json: unknown): TraceContext | undefined =>
  typeof json === "object" &&
  json !== null &&
  !Array.isArray(json) &&
  hasExactly(json, 2) &&
  "traceId" in json &&
  typeof json.traceId === "string" &&
  "spanId" in json &&
  typeof json.spanId === "string"
    ? { traceId: json.traceId, spanId: json.spanId }
    : undefined

/**
 * The proxy frame in parsed JSON, if it has exactly a proxy frame's shape: its four keys and no other, a safe
 * integer id, a string operation, a known outcome. Anything else is left to the Schema (`undefined`), so this
 * accepts a subset of what the Schema accepts, and gives equal values (a property test checks both).
 */
const proxyShape = (json: unknown): ProxyFrame | undefined => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined
  // Four keys, or five for a request that carries its sender's trace context.
  const trace = "trace" in json ? traceShape(json.trace) : undefined
  if (!hasExactly(json, trace === undefined ? 4 : 5)) return undefined
  if (!("_tag" in json && "requestId" in json)) return undefined
  const requestId = json.requestId
  if (typeof requestId !== "number" || !Number.isSafeInteger(requestId)) return undefined
  if (json._tag === "ProxyRequest" && "operation" in json && typeof json.operation === "string" && "payload" in json)
    return {
      _tag: "ProxyRequest",
      requestId,
      operation: json.operation,
      payload: json.payload,
      ...(trace === undefined ? {} : { trace })
    }
  if (json._tag === "ProxyResponse" && trace === undefined && "outcome" in json && "value" in json) {
    const outcome = json.outcome
    if (outcome === "success" || outcome === "failure" || outcome === "rejected")
      return { _tag: "ProxyResponse", requestId, outcome, value: json.value }
  }
  return undefined
}

/** The payload's text, if it is UTF-8. */
const textOf = (payload: Uint8Array): string | undefined =>
  Result.getOrUndefined(Result.try(() => utf8Decoder.decode(payload)))

/** The text's JSON value, if it is JSON (`undefined` is no JSON value). */
const jsonOf = (text: string | undefined): unknown =>
  text === undefined ? undefined : Result.getOrUndefined(Result.try(() => JSON.parse(text)))

/** Decodes payload bytes that hold a proxy frame of exactly its shape; `undefined` for anything else. */
export const decodeProxy = (payload: Uint8Array): ProxyFrame | undefined => proxyShape(jsonOf(textOf(payload)))

const requestPrefix = utf8Encoder.encode('{"_tag":"ProxyRequest","requestId":')
const responsePrefix = utf8Encoder.encode('{"_tag":"ProxyResponse","requestId":')
const [zero, nine, comma] = [0x30, 0x39, 0x2c]

const startsWith = (bytes: Uint8Array, prefix: Uint8Array): boolean =>
  bytes.length > prefix.length && Buffer.compare(bytes.subarray(0, prefix.length), prefix) === 0

/** The request id written at `from` as `JSON.stringify` writes a safe non-negative integer, and the index of the comma after it. */
const idAt = (bytes: Uint8Array, from: number): { readonly id: number; readonly end: number } | undefined => {
  let id = 0
  let end = from
  for (; end < bytes.length && end - from <= 16; end++) {
    const b = bytes[end] ?? comma
    if (b === comma) break
    if (b < zero || b > nine || (end > from && bytes[from] === zero)) return undefined
    id = id * 10 + (b - zero)
  }
  return end > from && bytes[end] === comma && Number.isSafeInteger(id) ? { id, end } : undefined
}

/** A proxy frame as received, and the bytes that follow its request id. */
interface Remembered {
  readonly rest: Uint8Array
  readonly frame: ProxyFrame
}

/**
 * Decodes the proxy frames of one connection like `decodeProxy`, remembering the last request and the last
 * response: a frame whose bytes are the remembered one's but for the request id — a polled `Status` and its
 * unchanged answer — is that frame with the new id, without parsing it again (~2 µs saved per frame). Only a
 * frame in the exact text `proxyText` writes is remembered (no duplicate key, no spacing or escaping of its own),
 * so the same bytes after a different id always parse to the same fields; the id itself is read as
 * `JSON.stringify` writes a safe integer, and anything else takes `decodeProxy`. A frame over `rememberedBytes`
 * is not remembered. The remembered `payload` and `value` are shared by the frames decoded from them, which is why
 * the hot path never mutates a frame.
 */
export class ProxyDecoder {
  #request: Remembered | undefined = undefined
  #response: Remembered | undefined = undefined

  decode(payload: Uint8Array): ProxyFrame | undefined {
    const isRequest = startsWith(payload, requestPrefix)
    const prefix = isRequest ? requestPrefix : startsWith(payload, responsePrefix) ? responsePrefix : undefined
    const at = prefix === undefined ? undefined : idAt(payload, prefix.length)
    if (at === undefined) return decodeProxy(payload)
    const rest = payload.subarray(at.end)
    const last = isRequest ? this.#request : this.#response
    if (last !== undefined && Buffer.compare(last.rest, rest) === 0) return { ...last.frame, requestId: at.id }
    const text = textOf(payload)
    const frame = proxyShape(jsonOf(text))
    if (
      frame !== undefined &&
      rest.length <= rememberedBytes &&
      frame.requestId === at.id &&
      proxyText(frame) === text
    ) {
      // A copy (a Buffer's `slice` would be a view): the connection may reuse the bytes it read into.
      const remembered = { rest: new Uint8Array(rest), frame }
      if (isRequest) this.#request = remembered
      else this.#response = remembered
    }
    return frame
  }
}

/** Decodes payload bytes into a frame: proxy frames by their exact shape, anything else by the Schema. */
export const decode = (payload: Uint8Array): Result.Result<Frame, WireDecodeError> => {
  const text = Result.try({
    try: () => utf8Decoder.decode(payload),
    catch: () => new WireDecodeError({ issue: "payload is not UTF-8" })
  })
  if (Result.isFailure(text)) return Result.fail(text.failure)
  const json = Result.try(() => JSON.parse(text.success))
  // Text that is not JSON takes the Schema's path, so its error is the Schema's.
  const decoded = Result.isSuccess(json) ? fromJson(json.success) : decodeText(text.success)
  return Result.mapError(decoded, (error) => new WireDecodeError({ issue: describeIssue(error.issue) }))
}

const fromJson = (json: unknown): Result.Result<Frame, Schema.SchemaError> => {
  const proxy = proxyShape(json)
  if (proxy === undefined) return decodeJson(json)
  // Checked above; the constructor's own checks would repeat that at the cost of the decode itself.
  return Result.succeed(
    proxy._tag === "ProxyRequest"
      ? new ProxyRequest(proxy, { disableChecks: true })
      : new ProxyResponse(proxy, { disableChecks: true })
  )
}
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

/** Where a frame failed to decode — paths only, since the values may be share bytes. */
const describeIssue = (issue: SchemaIssue.Issue): string => {
  const paths = formatIssue(issue).issues.map(
    (i) => `at [${(i.path ?? []).map((p) => JSON.stringify(typeof p === "object" ? p.key : p)).join(", ")}]`
  )
  return paths.length === 0 ? "not a frame" : `invalid ${paths.slice(0, 3).join("; ")}`
}
