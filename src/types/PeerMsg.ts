/**
 * The messages nodes exchange on the bootstrap network, each wrapped with the sender's rack id.
 *
 * A node with no rack id yet accepts any rack id; once it knows one, messages naming another rack are
 * dropped. Shares travel only inside `Prepare` and `Share`, over authenticated, encrypted links.
 * Messages that change what a node stores carry their proof: a `Prepare`'s configuration carries the
 * control plane's signed reconfiguration, and `CommitAdvance` and `Expunged` carry a committed
 * configuration with the control plane's commit signature (see `Decision`).
 */
import { Schema } from "effect"
import { Signature } from "../crypto/AuthorityKey.ts"
import { Configuration } from "./Configuration.ts"
import { Epoch } from "./Epoch.ts"
import { RackId } from "./RackId.ts"
import { Share } from "./Share.ts"

/** Coordinator → member: store this configuration and your share, then acknowledge. */
export class Prepare extends Schema.TaggedClass<Prepare>()("Prepare", { config: Configuration, share: Share }) {}

/** Member → coordinator: the prepare of `epoch` is durable. */
export class PrepareAck extends Schema.TaggedClass<PrepareAck>()("PrepareAck", { epoch: Epoch }) {}

/**
 * Ask a member for its share of `epoch`, showing the control plane's commit signature over that epoch's
 * configuration: a member that only prepared the epoch serves its share to nobody without it, so a sled
 * named in an epoch that was later aborted cannot collect K shares of it.
 */
export class GetShare extends Schema.TaggedClass<GetShare>()("GetShare", { epoch: Epoch, proof: Signature }) {}

/** The answer to `GetShare`. */
export class ShareReply extends Schema.TaggedClass<ShareReply>()("Share", { epoch: Epoch, share: Share }) {}

/**
 * The requester has been removed: `config` is a committed configuration that excludes it, `proof` the
 * control plane's commit signature over it.
 */
export class ExpungedReply extends Schema.TaggedClass<ExpungedReply>()("Expunged", {
  config: Configuration,
  proof: Signature
}) {}

/** The requester is behind: here is the latest committed configuration and its commit signature. */
export class CommitAdvance extends Schema.TaggedClass<CommitAdvance>()("CommitAdvance", {
  config: Configuration,
  proof: Signature
}) {}

export const PeerMsgKind = Schema.Union([Prepare, PrepareAck, GetShare, ShareReply, ExpungedReply, CommitAdvance])
export type PeerMsgKind = typeof PeerMsgKind.Type

/** A peer message: the sender's rack id and the message itself. */
export class PeerMsg extends Schema.Class<PeerMsg>("PeerMsg")({ rackId: RackId, kind: PeerMsgKind }) {}
