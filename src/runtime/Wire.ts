/**
 * The wire protocol between nodes: one Schema union for every frame a link carries, and its codec.
 *
 * A frame payload is the UTF-8 JSON text of `Schema.toCodecJson(Frame)` (bytes as base64). Measured on
 * the 2-core CI machine (Node 24), `SchemaBinary` was 10–35% faster and ~40% smaller (GetShare: 6 µs
 * vs 10 µs to encode; a 32-member Prepare: 237 µs vs 261 µs), but it is marked unstable and its
 * handling of hostile input is unproven, while `JSON.parse` is hardened native code whose cost is
 * bounded by the 1 MiB frame limit; the Schema decode dominates either way. So: JSON. Every received
 * payload is decoded with the Schema; one that does not decode is a typed `WireDecodeError`, which
 * closes the link.
 */
import { Result, Schema, SchemaIssue } from "effect"
import { BaseboardId } from "../types/BaseboardId.ts"
import { PeerMsg } from "../types/PeerMsg.ts"

/**
 * The version of this wire protocol; a peer speaking another version is refused at the handshake.
 * Version 2: decisions carry the control plane's signatures (configurations their signed
 * reconfiguration, `CommitAdvance` and `Expunged` a commit proof), and shares are exactly 32 bytes.
 */
export const protocolVersion = 2

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

/** A control-plane operation forwarded to this node by a peer (the proxy). `payload` is operation-encoded JSON. */
export class ProxyRequest extends Schema.TaggedClass<ProxyRequest>()("ProxyRequest", {
  requestId: Schema.Int,
  operation: Schema.String,
  payload: Schema.Unknown,
  /** The sender's span (W3C ids), so the destination serves the request in the sender's trace. */
  trace: Schema.optionalKey(Schema.Struct({ traceId: Schema.String, spanId: Schema.String }))
}) {}

/** The answer to a `ProxyRequest`: the operation's encoded success or failure. */
export class ProxyResponse extends Schema.TaggedClass<ProxyResponse>()("ProxyResponse", {
  requestId: Schema.Int,
  outcome: Schema.Literals(["success", "failure", "rejected"]),
  value: Schema.Unknown
}) {}

export const Frame = Schema.Union([Hello, Ping, Peer, ProxyRequest, ProxyResponse])
export type Frame = typeof Frame.Type

/** A received payload that is not a valid frame. The message names the Schema issue, never payload bytes. */
export class WireDecodeError extends Schema.TaggedError<WireDecodeError>()("WireDecodeError", {
  issue: Schema.String
}) {
  override get message(): string {
    return `a peer sent a frame that does not decode (${this.issue}); the link is closed`
  }
}

const codec = Schema.fromJsonString(Schema.toCodecJson(Frame))
const encodeText = Schema.encodeSync(codec)
const decodeText = Schema.decodeUnknownResult(codec)
const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * Encodes a frame into its payload bytes. Proxy frames take a direct path: their fields are an integer,
 * strings and a value that is already the JSON of an operation's codec, so `JSON.stringify` gives
 * exactly the codec's text at a tenth of the cost (they are the proxy's hot path). Every other frame
 * goes through the Schema codec.
 */
export const encode = (frame: Frame): Uint8Array => {
  switch (frame._tag) {
    case "ProxyRequest":
      return utf8Encoder.encode(
        JSON.stringify({
          _tag: frame._tag,
          requestId: frame.requestId,
          operation: frame.operation,
          payload: frame.payload,
          trace: frame.trace
        })
      )
    case "ProxyResponse":
      return utf8Encoder.encode(
        JSON.stringify({ _tag: frame._tag, requestId: frame.requestId, outcome: frame.outcome, value: frame.value })
      )
    default:
      return utf8Encoder.encode(encodeText(frame))
  }
}

/** Decodes payload bytes into a frame. */
export const decode = (payload: Uint8Array): Result.Result<Frame, WireDecodeError> =>
  Result.try({
    try: () => utf8Decoder.decode(payload),
    catch: () => new WireDecodeError({ issue: "payload is not UTF-8" })
  }).pipe(
    Result.flatMap((text) =>
      Result.mapError(decodeText(text), (error) => new WireDecodeError({ issue: describeIssue(error.issue) }))
    )
  )

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

/** Where a frame failed to decode — paths only, since the values may be share bytes. */
const describeIssue = (issue: SchemaIssue.Issue): string => {
  const paths = formatIssue(issue).issues.map(
    (i) => `at [${(i.path ?? []).map((p) => JSON.stringify(typeof p === "object" ? p.key : p)).join(", ")}]`
  )
  return paths.length === 0 ? "not a frame" : `invalid ${paths.slice(0, 3).join("; ")}`
}
