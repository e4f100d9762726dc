/**
 * The operations a node forwards to a peer on behalf of a control plane that cannot reach that peer
 * (the proxy of omicron PR #9403): each is declared once — its tag, payload, success and error
 * Schemas, and the handler that runs it at the destination — and everything else is derived: the
 * payload on the wire, the dispatch at the destination, the decoding of the answer. Adding an
 * operation is one declaration; nothing switches over operations anywhere else.
 */
import { Exit, Result, Schema } from "effect"
import type { Node } from "../protocol/Node.ts"
import type { NetworkConfigSummary } from "../types/NetworkConfig.ts"
import * as ProtocolError from "../types/ProtocolError.ts"
import { CommitRequest, PrepareAndCommitRequest } from "../types/Request.ts"
import { CommitStatus, NodeStatus } from "../types/Status.ts"
import { InvalidResponse } from "./RuntimeError.ts"

type Codec<A> = Schema.Codec<A, unknown, never, never>

/** What a handler may read at the destination besides the protocol node. */
export interface ServeContext {
  /** Requests this node itself has forwarded and not yet seen answered. */
  readonly proxiedRequests: number
  /** The network config the node holds, if any. */
  readonly networkConfig?: NetworkConfigSummary | undefined
}

/** A node's status: the protocol's summary and what the runtime adds. */
export const statusOf = (node: Node, context: ServeContext): NodeStatus =>
  new NodeStatus({
    ...node.status(),
    proxiedRequests: context.proxiedRequests,
    ...(context.networkConfig === undefined ? {} : { networkConfig: context.networkConfig })
  })

/** What declares a proxyable operation. */
export interface Declaration<Tag extends string, P, A, E> {
  readonly tag: Tag
  readonly payload: Codec<P>
  readonly success: Codec<A>
  readonly error: Codec<E>
  /** Runs the operation at the destination, exactly like a local API call. */
  readonly serve: (node: Node, payload: P, context: ServeContext) => Result.Result<A, E>
  /**
   * Only for an operation that reads and never fails: how the destination answers it from a snapshot. `take`
   * is the success as of the node's last completed step, encoded once per step; `complete` fills in, per
   * request, what changes between steps. The NodeTask answers such a request where its frame is read, and
   * only while it has no event waiting, so the answer shows exactly the state of its last (persisted) step.
   */
  readonly snapshot?: {
    readonly take: (node: Node) => A
    readonly complete: (encoded: unknown, context: ServeContext) => unknown
  }
}

/** The JSON codecs of an operation, compiled once when it is declared (building them per call cost ~10× the call). */
export interface JsonCodecs<P, A, E> {
  readonly encodePayload: (payload: P) => unknown
  readonly decodePayload: (json: unknown) => Result.Result<P, Schema.SchemaError>
  readonly encodeSuccess: (success: A) => unknown
  readonly decodeSuccess: (json: unknown) => Result.Result<A, Schema.SchemaError>
  readonly encodeError: (error: E) => unknown
  readonly decodeError: (json: unknown) => Result.Result<E, Schema.SchemaError>
}

/** A proxyable operation: its declaration and its compiled codecs. */
export interface Operation<Tag extends string, P, A, E> extends Declaration<Tag, P, A, E> {
  readonly json: JsonCodecs<P, A, E>
}

/** Declares an operation. */
export const declare = <const Tag extends string, P, A, E>(
  declaration: Declaration<Tag, P, A, E>
): Operation<Tag, P, A, E> => {
  const payload = Schema.toCodecJson(declaration.payload)
  const success = Schema.toCodecJson(declaration.success)
  const error = Schema.toCodecJson(declaration.error)
  const decodeSuccess = Schema.decodeUnknownResult(success)
  // Answers repeat (a polled Status rarely changes) and decoding is a function of the JSON alone, so the
  // last decoded success is reused for the same JSON value — the very same one when the link's decoder reused
  // it (`Wire.ProxyDecoder`), else the same text: ~1 µs to compare against ~10 µs to decode.
  let last:
    | {
        readonly json: unknown
        readonly text: string | undefined
        readonly decoded: Result.Result<A, Schema.SchemaError>
      }
    | undefined
  return {
    ...declaration,
    json: {
      encodePayload: Schema.encodeSync(payload),
      decodePayload: Schema.decodeUnknownResult(payload),
      encodeSuccess: Schema.encodeSync(success),
      decodeSuccess: (json) => {
        if (last !== undefined && last.json === json) return last.decoded
        const text = JSON.stringify(json)
        last =
          last !== undefined && last.text === text ? { ...last, json } : { json, text, decoded: decodeSuccess(json) }
        return last.decoded
      },
      encodeError: Schema.encodeSync(error),
      decodeError: Schema.decodeUnknownResult(error)
    }
  }
}

export const Commit = declare({
  tag: "Commit",
  payload: CommitRequest,
  success: CommitStatus,
  error: ProtocolError.CommitError,
  serve: (node, request: CommitRequest) => node.commitConfiguration(request.rackId, request.epoch, request.proof)
})

export const PrepareAndCommit = declare({
  tag: "PrepareAndCommit",
  payload: PrepareAndCommitRequest,
  success: CommitStatus,
  error: ProtocolError.PrepareAndCommitError,
  serve: (node, request: PrepareAndCommitRequest) => node.prepareAndCommit(request.config, request.proof)
})

export const Status = declare({
  tag: "Status",
  payload: Schema.Struct({}),
  success: NodeStatus,
  error: Schema.Never,
  serve: (node, _: {}, context) => Result.succeed(statusOf(node, context)),
  snapshot: {
    take: (node) => new NodeStatus({ ...node.status(), proxiedRequests: 0 }),
    // Building and encoding a NodeStatus costs ~10 µs; copying its encoded fields, well under one. The
    // network-config summary is plain JSON already (its encoded form is itself).
    complete: (encoded, context) =>
      typeof encoded === "object" && encoded !== null
        ? {
            ...encoded,
            proxiedRequests: context.proxiedRequests,
            ...(context.networkConfig === undefined ? {} : { networkConfig: context.networkConfig })
          }
        : encoded
  }
})

const issueText = (e: Schema.SchemaError): string => e.message.split("\n")[0] ?? "invalid"

/** The wire outcome of running an operation at the destination. */
export type Outcome =
  | { readonly outcome: "success"; readonly value: unknown }
  | { readonly outcome: "failure"; readonly value: unknown }
  | { readonly outcome: "rejected"; readonly value: string }

/** The destination side of one operation: decode the payload, run the handler, encode its answer. */
const handler =
  <Tag extends string, P, A, E>(op: Operation<Tag, P, A, E>) =>
  (payload: unknown, node: Node, context: ServeContext): Outcome => {
    const decoded = op.json.decodePayload(payload)
    if (Result.isFailure(decoded)) {
      return { outcome: "rejected", value: `invalid ${op.tag} payload: ${issueText(decoded.failure)}` }
    }
    const result = op.serve(node, decoded.success, context)
    return Result.isSuccess(result)
      ? { outcome: "success", value: op.json.encodeSuccess(result.success) }
      : { outcome: "failure", value: op.json.encodeError(result.failure) }
  }

/** Every operation a destination serves, by tag. */
const registry: ReadonlyMap<string, ReturnType<typeof handler>> = new Map([
  [Commit.tag, handler(Commit)],
  [PrepareAndCommit.tag, handler(PrepareAndCommit)],
  [Status.tag, handler(Status)]
])

/**
 * An operation's encoded success as of the last step, and the last answer completed from it: the same answer
 * object while what `complete` adds is unchanged, so the link writes its text once (`Wire.ProxyEncoder`).
 */
interface Snapshot {
  readonly encoded: unknown
  last?: { readonly proxiedRequests: number; readonly networkConfig: unknown; readonly value: unknown }
}

/** The encoded snapshots of one destination, by operation tag; its NodeTask empties it after every step. */
export type Snapshots = Map<string, Snapshot>

/** The destination side of an operation with a snapshot: decode the payload, answer from the snapshot. */
const snapshotHandler =
  <Tag extends string, P, A, E>(op: Operation<Tag, P, A, E>) =>
  (payload: unknown, node: Node, context: ServeContext, snapshots: Snapshots): Outcome | undefined => {
    const snapshot = op.snapshot
    if (snapshot === undefined) return undefined
    const decoded = op.json.decodePayload(payload)
    if (Result.isFailure(decoded)) {
      return { outcome: "rejected", value: `invalid ${op.tag} payload: ${issueText(decoded.failure)}` }
    }
    let taken = snapshots.get(op.tag)
    if (taken === undefined) {
      taken = { encoded: op.json.encodeSuccess(snapshot.take(node)) }
      snapshots.set(op.tag, taken)
    }
    const { proxiedRequests, networkConfig } = context
    if (taken.last?.proxiedRequests !== proxiedRequests || taken.last.networkConfig !== networkConfig) {
      taken.last = { proxiedRequests, networkConfig, value: snapshot.complete(taken.encoded, context) }
    }
    return { outcome: "success", value: taken.last.value }
  }

/** The operations a destination may answer from a snapshot, by tag. */
const snapshotRegistry: ReadonlyMap<string, ReturnType<typeof snapshotHandler>> = new Map([
  [Status.tag, snapshotHandler(Status)]
])

/**
 * Answers a received request from `snapshots` when its operation has a snapshot (an invalid payload is
 * rejected here too); `undefined` when it must be served by a step of the NodeTask.
 */
export const serveFromSnapshot = (
  tag: string,
  payload: unknown,
  node: Node,
  context: ServeContext,
  snapshots: Snapshots
): Outcome | undefined => snapshotRegistry.get(tag)?.(payload, node, context, snapshots)

/** Runs a received request at the destination. A proxied request is never proxied again. */
export const serve = (tag: string, payload: unknown, node: Node, context: ServeContext): Outcome => {
  const run = registry.get(tag)
  return run === undefined
    ? { outcome: "rejected", value: `unknown operation ${JSON.stringify(tag).slice(0, 40)}` }
    : run(payload, node, context)
}

/** Whether a served request was refused for want of the control plane's signature (a hostile request, logged). */
export const isUnauthorized = (outcome: Outcome["outcome"], value: unknown): boolean =>
  outcome === "failure" &&
  typeof value === "object" &&
  value !== null &&
  "_tag" in value &&
  value._tag === "NotAuthorized"

/** What the origin needs of an operation to decode an answer. */
export interface Decoding<A, E> {
  readonly tag: string
  readonly json: Pick<JsonCodecs<unknown, A, E>, "decodeSuccess" | "decodeError">
}

/**
 * Origin side: the caller's result from the destination's answer. A value that does not decode with
 * the operation's success or error Schema — or a rejection — becomes `InvalidResponse`.
 */
export const decodeResponse = <A, E>(
  op: Decoding<A, E>,
  destination: string,
  outcome: string,
  value: unknown
): Exit.Exit<A, E | InvalidResponse> => {
  const invalid = (issue: string) => Exit.fail(new InvalidResponse({ destination, issue }))
  if (outcome === "success") {
    const decoded = op.json.decodeSuccess(value)
    return Result.isSuccess(decoded)
      ? Exit.succeed(decoded.success)
      : invalid(`${op.tag} success: ${issueText(decoded.failure)}`)
  }
  if (outcome === "failure") {
    const decoded = op.json.decodeError(value)
    return Result.isSuccess(decoded)
      ? Exit.fail(decoded.success)
      : invalid(`${op.tag} error: ${issueText(decoded.failure)}`)
  }
  return invalid(typeof value === "string" ? value : "the destination rejected the request")
}
