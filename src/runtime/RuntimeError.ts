/**
 * The runtime's typed errors: what can go wrong between a caller and a node, apart from the protocol's
 * own errors. Each message says what happened and what the caller should do.
 */
import { Schema } from "effect"

/**
 * The node stopped (shut down, a ledger write failed, or a defect in its task); it answers nothing any
 * more. `cause` is the defect that stopped it, when one did (encoded without its stack).
 */
export class NodeStopped extends Schema.TaggedError<NodeStopped>()("NodeStopped", {
  reason: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  override get message(): string {
    return `the node has stopped (${this.reason}); restart it`
  }
}

/** An argument given to the node's API is not a valid value of its type; nothing was done. */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  argument: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.argument}: ${this.issue}; pass a valid value`
  }
}

/** Too many requests are waiting; nothing was done. */
export class Busy extends Schema.TaggedError<Busy>()("Busy", { limit: Schema.Int }) {
  override get message(): string {
    return `the node is busy (${this.limit} requests already waiting); retry after a short delay`
  }
}

/**
 * The request could not be delivered, or its link closed before the answer arrived: the outcome at the
 * destination is unknown. Every proxyable operation is idempotent, so retrying is safe.
 */
export class Disconnected extends Schema.TaggedError<Disconnected>()("Disconnected", {
  destination: Schema.String,
  connectionId: Schema.NullOr(Schema.Int)
}) {
  override get message(): string {
    return this.connectionId === null
      ? `${this.destination} is not connected; the request was not sent — retry later or through another member`
      : `link ${this.connectionId} to ${this.destination} closed before it answered; the outcome is unknown — retry (the operation is idempotent)`
  }
}

/** The destination's answer did not decode as the operation's success or error. */
export class InvalidResponse extends Schema.TaggedError<InvalidResponse>()("InvalidResponse", {
  destination: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `${this.destination} answered with something that is not a valid response (${this.issue}); check the versions of both nodes`
  }
}

/** A proxied request got no answer within the caller's deadline; its entry was removed. */
export class ProxyTimeout extends Schema.TaggedError<ProxyTimeout>()("ProxyTimeout", {
  destination: Schema.String,
  millis: Schema.Number
}) {
  override get message(): string {
    return `${this.destination} did not answer within ${this.millis} ms; the outcome is unknown — retry`
  }
}
