/**
 * The messages nodes exchange on the bootstrap network, each wrapped with the sender's rack id.
 *
 * A node with no rack id yet accepts any rack id; once it knows one, messages naming another rack are
 * dropped. Shares travel only inside `Prepare` and `Share`, over authenticated, encrypted links.
 */
import { Schema } from "effect"
import { Configuration } from "./Configuration.ts"
import { Epoch } from "./Epoch.ts"
import { RackId } from "./RackId.ts"
import { Share } from "./Share.ts"

/** Coordinator → member: store this configuration and your share, then acknowledge. */
export class Prepare extends Schema.TaggedClass<Prepare>()("Prepare", { config: Configuration, share: Share }) {}

/** Member → coordinator: the prepare of `epoch` is durable. */
export class PrepareAck extends Schema.TaggedClass<PrepareAck>()("PrepareAck", { epoch: Epoch }) {}

/** Ask a member for its share of `epoch`. */
export class GetShare extends Schema.TaggedClass<GetShare>()("GetShare", { epoch: Epoch }) {}

/** The answer to `GetShare`. */
export class ShareReply extends Schema.TaggedClass<ShareReply>()("Share", { epoch: Epoch, share: Share }) {}

/** The requester is not a member of the configuration at `epoch`: it has been removed. */
export class ExpungedReply extends Schema.TaggedClass<ExpungedReply>()("Expunged", { epoch: Epoch }) {}

/** The requester is behind: here is the latest committed configuration. */
export class CommitAdvance extends Schema.TaggedClass<CommitAdvance>()("CommitAdvance", { config: Configuration }) {}

export const PeerMsgKind = Schema.Union([Prepare, PrepareAck, GetShare, ShareReply, ExpungedReply, CommitAdvance])
export type PeerMsgKind = typeof PeerMsgKind.Type

/** A peer message: the sender's rack id and the message itself. */
export class PeerMsg extends Schema.Class<PeerMsg>("PeerMsg")({ rackId: RackId, kind: PeerMsgKind }) {}
