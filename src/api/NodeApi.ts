/**
 * The node's HTTP API (the sled-agent analog), schema-first: the control plane reconfigures, commits,
 * reads status — and reaches a node that has no API yet through this node's proxy endpoints.
 *
 * Typed errors map to precise statuses with a JSON body carrying the tag: a decision whose signature does
 * not verify against the node's authority key (`NotAuthorized`) ⇒ 403, a node in the wrong state
 * (`NotPrepared`, `Superseded`, …) ⇒ 409, `Disconnected` and `NodeStopped` ⇒ 503, `Busy` ⇒ 429, an
 * `InvalidResponse` from a proxied destination ⇒ 502, a proxied call unanswered within the server's
 * deadline ⇒ 504 `ProxyTimeout`, a body that does not decode ⇒ 400 with the Schema issue
 * (`{ _tag: "BadRequest", part, issue }`). Answers of the server itself have the same shape: an unknown
 * path ⇒ 404 `NotFound`, a known path with another method ⇒ 405 `MethodNotAllowed`, a body that is not
 * JSON ⇒ 415 `UnsupportedMediaType`, a body over the server's limit ⇒ 413 `PayloadTooLarge`. Every
 * operation carries an OpenAPI summary and description and declares the statuses it answers with their
 * bodies. The same definition yields the OpenAPI document (`/openapi.json`), the docs page (`/docs`) and
 * a typed client (`HttpApiClient.make`). Liveness (`/healthz`) and readiness (`/readyz`) are operations too.
 * The network config is read and replaced at `/network-config`: a stale generation or a config for another
 * rack ⇒ 409, a missing or bad authority signature ⇒ 403, a blob above the limit ⇒ 413, none held ⇒ 404.
 */
import { type Context, Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import {
  Busy,
  Disconnected,
  InvalidArgument,
  InvalidResponse,
  NodeStopped,
  ProxyTimeout
} from "../runtime/RuntimeError.ts"
import { BaseboardId } from "../types/BaseboardId.ts"
import { Epoch } from "../types/Epoch.ts"
import {
  NetworkConfig,
  NetworkConfigNotAuthorized,
  NetworkConfigTooLarge,
  NetworkConfigWrongRack,
  StaleNetworkConfig
} from "../types/NetworkConfig.ts"
import type { NodePersistentStateSummary } from "../types/PersistentState.ts"
import * as ProtocolError from "../types/ProtocolError.ts"
import { CommitRequest, PrepareAndCommitRequest, ReconfigureMsg } from "../types/Request.ts"
import { CommitStatus, CoordinatorStatus, NodeStatus } from "../types/Status.ts"

const status =
  (code: number) =>
  <S extends Schema.Top>(schema: S) =>
    schema.pipe(HttpApiSchema.status(code))

/** This node is not coordinating a reconfiguration (a plain 404, not a decode error). */
export class NotCoordinating extends Schema.TaggedError<NotCoordinating>()("NotCoordinating", {}) {
  override get message(): string {
    return "this node is not coordinating a reconfiguration"
  }
}

/** The node holds no network config yet (a plain 404). */
export class NoNetworkConfig extends Schema.TaggedError<NoNetworkConfig>()("NoNetworkConfig", {}) {
  override get message(): string {
    return "this node holds no network config yet; set one with POST /network-config (`tq network-config set`)"
  }
}

/** A request that does not decode: which part (the body, the path, …) and the Schema issue. */
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", {
  part: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `the request's ${this.part} does not decode: ${this.issue}`
  }
}

/** A request body over the server's limit (refused while it arrives). */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  limitBytes: Schema.Int
}) {
  override get message(): string {
    return `the request body is over the server's limit of ${this.limitBytes} bytes`
  }
}

/** A request body that is not JSON. */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()("UnsupportedMediaType", {
  contentType: Schema.NullOr(Schema.String),
  expected: Schema.String
}) {
  override get message(): string {
    return `the request body is ${this.contentType ?? "untyped"}, not ${this.expected}`
  }
}

/** The node cannot serve the control plane yet, or any more; each reason says why. */
export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", { reasons: Schema.Array(Schema.String) }) {
  override get message(): string {
    return `not ready: ${this.reasons.join("; ")}`
  }
}

/**
 * Why a node is not ready, from its status: its ledger reached fewer copies than configured (one more
 * lost disk loses state), it holds a configuration listing it that it has not committed, or it was
 * expunged. Empty when ready. (A stopped node has no status: that is a reason of its own.)
 */
export const notReadyReasons = (
  state: NodePersistentStateSummary,
  ledgerCopies: { readonly written: number; readonly configured: number } | undefined
): ReadonlyArray<string> => {
  const latest = state.configs.at(-1)
  return [
    ...(ledgerCopies !== undefined && ledgerCopies.written < ledgerCopies.configured
      ? [`the ledger reached ${ledgerCopies.written} of ${ledgerCopies.configured} copies`]
      : []),
    ...(latest !== undefined && !state.commits.includes(latest)
      ? [`a member of epoch ${latest}, which it has not committed`]
      : []),
    ...(state.expunged === null ? [] : [`expunged at epoch ${state.expunged.epoch}`])
  ]
}

/** What `/readyz` answers when the node is ready. */
export const Ready = Schema.Struct({ status: Schema.Literal("ready"), committedEpoch: Schema.NullOr(Epoch) })

/** The runtime errors every call may fail with. */
const unavailable = [status(503)(NodeStopped), status(429)(Busy)] as const
const proxyErrors = [
  ...unavailable,
  status(503)(Disconnected),
  status(502)(InvalidResponse),
  status(504)(ProxyTimeout)
] as const
/** What every operation with a body may also answer: it does not decode, is too large, or is not JSON. */
const bodyErrors = [status(400)(BadRequest), status(413)(PayloadTooLarge), status(415)(UnsupportedMediaType)] as const

const conflict = status(409)
/** `NotAuthorized` ⇒ 403; every other protocol error is a conflict with the node's state ⇒ 409. */
const protocolErrors = <S extends Schema.Top>(members: ReadonlyArray<S>) =>
  members.map((m) => (m === (ProtocolError.NotAuthorized as Schema.Top) ? status(403)(m) : conflict(m)))
const reconfigurationErrors = protocolErrors(ProtocolError.ReconfigurationError.members)
const commitErrors = protocolErrors(ProtocolError.CommitError.members)
const prepareAndCommitErrors = protocolErrors(ProtocolError.PrepareAndCommitError.members)

/** What loading the latest secret reports: never the secret, only its epoch and a fingerprint. */
export const RackSecretStatus = Schema.Union([
  Schema.TaggedStruct("Loaded", { epoch: Epoch, fingerprint: Schema.String }),
  Schema.TaggedStruct("Pending", {})
])
export type RackSecretStatus = typeof RackSecretStatus.Type

/** One established link. */
export const Connection = Schema.Struct({
  connectionId: Schema.Int,
  peer: BaseboardId,
  listenAddress: Schema.String,
  remoteAddress: Schema.String,
  direction: Schema.Literals(["inbound", "outbound"]),
  since: Schema.Number,
  current: Schema.Boolean
})

/** An OpenAPI summary (one line) and description (what it does, when, what it answers). */
const doc =
  (summary: string, description: string) =>
  <E extends { annotate<I, S>(key: Context.Key<I, S>, value: S): E }>(endpoint: E): E =>
    endpoint.annotate(OpenApi.Summary, summary).annotate(OpenApi.Description, description)

export class TrustQuorumApi extends HttpApiGroup.make("trustQuorum", { topLevel: true })
  .add(
    HttpApiEndpoint.post("reconfigure", "/reconfigure", {
      payload: ReconfigureMsg,
      success: HttpApiSchema.NoContent,
      error: [...reconfigurationErrors, ...unavailable, ...bodyErrors]
    }).pipe(
      doc(
        "Start coordinating a new configuration",
        "Makes this node the coordinator of the given epoch: it draws a new rack secret, splits it among the members and sends each its Prepare. Poll /coordinator-status for the acknowledgements. 409 when the request conflicts with what the node holds."
      )
    ),
    HttpApiEndpoint.get("coordinatorStatus", "/coordinator-status", {
      success: CoordinatorStatus,
      error: [status(404)(NotCoordinating), ...unavailable]
    }).pipe(
      doc(
        "Read the coordinator's progress",
        "The configuration this node coordinates and the members whose Prepare is durable. 404 when it coordinates nothing."
      )
    ),
    HttpApiEndpoint.post("commit", "/commit", {
      payload: CommitRequest,
      success: CommitStatus,
      error: [...commitErrors, status(400)(InvalidArgument), ...unavailable, ...bodyErrors]
    }).pipe(
      doc(
        "Commit a prepared configuration",
        "Commits the epoch at this node, which must have prepared it (409 NotPrepared otherwise: use /prepare-and-commit). Idempotent."
      )
    ),
    HttpApiEndpoint.post("prepareAndCommit", "/prepare-and-commit", {
      payload: PrepareAndCommitRequest,
      success: CommitStatus,
      error: [...prepareAndCommitErrors, ...unavailable, ...bodyErrors]
    }).pipe(
      doc(
        "Commit a configuration this node missed the prepare of",
        "The node rebuilds its share from K members and commits; Pending until it has. Idempotent: repeat until Committed."
      )
    ),
    HttpApiEndpoint.post("loadLatestRackSecret", "/rack-secret/load-latest", {
      success: RackSecretStatus,
      error: [...ProtocolError.LoadRackSecretError.members.map(conflict), ...unavailable]
    }).pipe(
      doc(
        "Unlock: load the latest committed rack secret",
        "Collects K shares and reconstructs the secret of the latest committed epoch. Answers its epoch and fingerprint, never the secret; Pending while shares are still arriving."
      )
    ),
    HttpApiEndpoint.get("status", "/status", { success: NodeStatus, error: unavailable }).pipe(
      doc(
        "Read the node's status",
        "Connected peers, alarms, the epochs persisted (configurations, shares, commits), expungement and in-flight proxied requests."
      )
    ),
    HttpApiEndpoint.get("connections", "/connections", { success: Schema.Array(Connection), error: unavailable }).pipe(
      doc(
        "List the peer links",
        "Every authenticated link, with its direction, addresses, age and whether it is current."
      )
    ),
    HttpApiEndpoint.get("networkConfig", "/network-config", {
      success: NetworkConfig,
      error: [status(404)(NoNetworkConfig), ...unavailable]
    }).pipe(
      doc(
        "Read the network config",
        "The signed, generation-numbered network config this node holds (the blob as base64). 404 when it holds none yet."
      )
    ),
    HttpApiEndpoint.post("updateNetworkConfig", "/network-config", {
      payload: NetworkConfig,
      success: HttpApiSchema.NoContent,
      error: [
        conflict(StaleNetworkConfig),
        conflict(NetworkConfigWrongRack),
        status(403)(NetworkConfigNotAuthorized),
        status(413)(NetworkConfigTooLarge),
        ...unavailable,
        ...bodyErrors
      ]
    }).pipe(
      doc(
        "Replace the network config",
        "Stores a network config signed by the control plane's authority key over (rack id, generation, SHA3-256 of the blob), then gossips it to every peer. 409 StaleNetworkConfig when the generation is not above the one held (equal too)."
      )
    ),
    HttpApiEndpoint.post("proxyCommit", "/proxy/commit", {
      payload: Schema.Struct({ destination: BaseboardId, request: CommitRequest }),
      success: CommitStatus,
      error: [...commitErrors, ...proxyErrors, ...bodyErrors]
    }).pipe(
      doc(
        "Commit at another node, through this node's proxy",
        "Forwards a commit over the peer network to a node without an API (a new sled). The destination's own errors come back typed; 503 Disconnected means the outcome is unknown: retry, it is idempotent."
      )
    ),
    HttpApiEndpoint.post("proxyPrepareAndCommit", "/proxy/prepare-and-commit", {
      payload: Schema.Struct({ destination: BaseboardId, request: PrepareAndCommitRequest }),
      success: CommitStatus,
      error: [...prepareAndCommitErrors, ...proxyErrors, ...bodyErrors]
    }).pipe(
      doc(
        "Prepare-and-commit at another node, through this node's proxy",
        "Forwards a prepare-and-commit over the peer network to a node without an API. Idempotent: repeat until Committed."
      )
    ),
    HttpApiEndpoint.post("proxyStatus", "/proxy/status", {
      payload: Schema.Struct({ destination: BaseboardId }),
      success: NodeStatus,
      error: [...proxyErrors, ...bodyErrors]
    }).pipe(doc("Read another node's status, through this node's proxy", "The status of a node without an API."))
  )
  .annotate(
    OpenApi.Description,
    "The control plane's operations on this node, and the proxy that forwards them to nodes without an API."
  ) {}

/** Liveness and readiness, for supervisors and load balancers. */
export class OperationsApi extends HttpApiGroup.make("operations", { topLevel: true })
  .add(
    HttpApiEndpoint.get("healthz", "/healthz", { success: Schema.Struct({ status: Schema.Literal("ok") }) }).pipe(
      doc("Liveness", "200 whenever the process serves HTTP, whatever the node's state.")
    ),
    HttpApiEndpoint.get("readyz", "/readyz", { success: Ready, error: status(503)(NotReady) }).pipe(
      doc(
        "Readiness",
        "200 when the node is running, its ledger reaches every configured copy, and it has committed the latest configuration that lists it; 503 NotReady with the reasons otherwise."
      )
    )
  )
  .annotate(OpenApi.Description, "Liveness and readiness of the node process.") {}

/** The whole API. */
export class NodeApi extends HttpApi.make("trust-quorum-node")
  .add(TrustQuorumApi)
  .add(OperationsApi)
  .annotateMerge(
    OpenApi.annotations({
      title: "effect-trust-quorum node API",
      version: "0.1.0",
      description: "The control plane's view of one trust-quorum node, and its proxy to nodes without an API.",
      license: { name: "MIT", identifier: "MIT" },
      servers: [{ url: "/", description: "the node serving this document" }]
    })
  ) {}
