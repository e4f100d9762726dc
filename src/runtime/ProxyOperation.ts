/**
 * The operations a node forwards to a peer on behalf of a control plane that cannot reach that peer
 * (the proxy of omicron PR #9403): each is declared once — its tag, payload, success and error
 * Schemas, and the handler that runs it at the destination — and everything else is derived: the
 * payload on the wire, the dispatch at the destination, the decoding of the answer. Adding an
 * operation is one declaration; nothing switches over operations anywhere else.
 */
import { Exit, Result, Schema } from "effect"
import type { Node } from "../protocol/Node.ts"
import * as ProtocolError from "../types/ProtocolError.ts"
import { CommitRequest, PrepareAndCommitRequest } from "../types/Request.ts"
import { CommitStatus, NodeStatus } from "../types/Status.ts"
import { InvalidResponse } from "./RuntimeError.ts"

type Codec<A> = Schema.Codec<A, unknown, never, never>

/** What a handler may read at the destination besides the protocol node. */
export interface ServeContext {
  /** Requests this node itself has forwarded and not yet seen answered. */
  readonly proxiedRequests: number
}

/** What declares a proxyable operation. */
export interface Declaration<Tag extends string, P, A, E> {
  readonly tag: Tag
  readonly payload: Codec<P>
  readonly success: Codec<A>
  readonly error: Codec<E>
  /** Runs the operation at the destination, exactly like a local API call. */
  readonly serve: (node: Node, payload: P, context: ServeContext) => Result.Result<A, E>
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
  return {
    ...declaration,
    json: {
      encodePayload: Schema.encodeSync(payload),
      decodePayload: Schema.decodeUnknownResult(payload),
      encodeSuccess: Schema.encodeSync(success),
      decodeSuccess: Schema.decodeUnknownResult(success),
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
  serve: (node, _: {}, context) =>
    Result.succeed(new NodeStatus({ ...node.status(), proxiedRequests: context.proxiedRequests }))
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

/**
 * Origin side: the caller's result from the destination's answer. A value that does not decode with
 * the operation's success or error Schema — or a rejection — becomes `InvalidResponse`.
 */
export const decodeResponse = <A, E>(
  op: { readonly tag: string; readonly json: Pick<JsonCodecs<unknown, A, E>, "decodeSuccess" | "decodeError"> },
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
