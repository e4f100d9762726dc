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
 * JSON ⇒ 415 `UnsupportedMediaType`, a body over the server's limit ⇒ 413 `PayloadTooLarge`. The same
 * definition yields the OpenAPI document (`/openapi.json`) and a typed client (`HttpApiClient.make`).
 */
import { Schema } from "effect"
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

/** The runtime errors every call may fail with. */
const unavailable = [status(503)(NodeStopped), status(429)(Busy)] as const
const proxyErrors = [
  ...unavailable,
  status(503)(Disconnected),
  status(502)(InvalidResponse),
  status(504)(ProxyTimeout)
] as const

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

export class TrustQuorumApi extends HttpApiGroup.make("trustQuorum", { topLevel: true }).add(
  HttpApiEndpoint.post("reconfigure", "/reconfigure", {
    payload: ReconfigureMsg,
    success: HttpApiSchema.NoContent,
    error: [...reconfigurationErrors, ...unavailable]
  }),
  HttpApiEndpoint.get("coordinatorStatus", "/coordinator-status", {
    success: CoordinatorStatus,
    error: [status(404)(NotCoordinating), ...unavailable]
  }),
  HttpApiEndpoint.post("commit", "/commit", {
    payload: CommitRequest,
    success: CommitStatus,
    error: [...commitErrors, status(400)(InvalidArgument), ...unavailable]
  }),
  HttpApiEndpoint.post("prepareAndCommit", "/prepare-and-commit", {
    payload: PrepareAndCommitRequest,
    success: CommitStatus,
    error: [...prepareAndCommitErrors, ...unavailable]
  }),
  HttpApiEndpoint.post("loadLatestRackSecret", "/rack-secret/load-latest", {
    success: RackSecretStatus,
    error: [...ProtocolError.LoadRackSecretError.members.map(conflict), ...unavailable]
  }),
  HttpApiEndpoint.get("status", "/status", { success: NodeStatus, error: unavailable }),
  HttpApiEndpoint.get("connections", "/connections", { success: Schema.Array(Connection), error: unavailable }),
  HttpApiEndpoint.post("proxyCommit", "/proxy/commit", {
    payload: Schema.Struct({ destination: BaseboardId, request: CommitRequest }),
    success: CommitStatus,
    error: [...commitErrors, ...proxyErrors]
  }),
  HttpApiEndpoint.post("proxyPrepareAndCommit", "/proxy/prepare-and-commit", {
    payload: Schema.Struct({ destination: BaseboardId, request: PrepareAndCommitRequest }),
    success: CommitStatus,
    error: [...prepareAndCommitErrors, ...proxyErrors]
  }),
  HttpApiEndpoint.post("proxyStatus", "/proxy/status", {
    payload: Schema.Struct({ destination: BaseboardId }),
    success: NodeStatus,
    error: proxyErrors
  })
) {}

/** The whole API. */
export class NodeApi extends HttpApi.make("trust-quorum-node")
  .add(TrustQuorumApi)
  .annotateMerge(
    OpenApi.annotations({
      title: "effect-trust-quorum node API",
      description: "The control plane's view of one trust-quorum node, and its proxy to nodes without an API."
    })
  ) {}
