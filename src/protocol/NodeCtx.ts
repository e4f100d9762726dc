/**
 * The protocol node's context: its persistent state, the peers it is connected to, the outbox of
 * envelopes it wants sent, the alarms it raised, a short record of dropped messages, and the dirty flag.
 *
 * The protocol only records intent here. The caller (the runtime's NodeTask or the simulator) reads the
 * dirty flag once per call — reading clears it — persists the state if it was set, replies, and only then
 * sends the drained envelopes, so no acknowledgement ever leaves for state that is not durable.
 */
import { Equal } from "effect"
import type { Alarm } from "../types/Alarm.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import { PeerMsg, type PeerMsgKind } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type { Policy } from "./Policy.ts"

/** A message on its way from one node to another. */
export interface Envelope {
  readonly to: BaseboardId
  readonly from: BaseboardId
  readonly msg: PeerMsg
}

/**
 * Why a peer message had no effect. Only rule names: a message's share or secret bytes are never
 * recorded.
 */
export type DropReason =
  | "Expunged"
  | "RackIdMismatch"
  | "PrepareForStaleEpoch"
  | "PrepareNotAMember"
  | "PrepareNotFromCoordinator"
  | "PrepareUnauthorized"
  | "PrepareOutOfBounds"
  | "PrepareConfigurationMismatch"
  | "PrepareShareMismatch"
  | "AckNotCoordinating"
  | "AckNotPreparing"
  | "AckWrongEpoch"
  | "AckNotAMember"
  | "GetShareUnknownEpoch"
  | "GetShareUnproven"
  | "ShareWrongEpoch"
  | "ShareNotAMember"
  | "ShareDigestMismatch"
  | "ShareDuplicate"
  | "ShareNotCollecting"
  | "ExpungedWithoutConfigs"
  | "ExpungedNeverAMember"
  | "ExpungedForOlderEpoch"
  | "ExpungedUnauthorized"
  | "ExpungedStillAMember"
  | "CommitAdvanceNotAMember"
  | "CommitAdvanceStale"
  | "CommitAdvanceMismatchedConfiguration"
  | "CommitAdvanceUnauthorized"
  | "CommitAdvanceOutOfBounds"
  | "ConfigurationForAnotherRack"

/**
 * Drops that no honest peer causes: a forged, replayed or malformed message, or one from a sender that
 * may not send it. The runtime logs these as warnings (rate-limited); the others are routine (duplicates,
 * late acknowledgements, shares nobody collects) and logged at debug level.
 */
export const hostileDropReasons: ReadonlySet<DropReason> = new Set<DropReason>([
  "PrepareNotFromCoordinator",
  "PrepareUnauthorized",
  "PrepareOutOfBounds",
  "PrepareConfigurationMismatch",
  "PrepareShareMismatch",
  "PrepareForStaleEpoch",
  "ExpungedUnauthorized",
  "ExpungedStillAMember",
  "ExpungedNeverAMember",
  "CommitAdvanceUnauthorized",
  "CommitAdvanceOutOfBounds",
  "CommitAdvanceMismatchedConfiguration",
  "ConfigurationForAnotherRack",
  "GetShareUnproven",
  "ShareDigestMismatch",
  "ShareNotAMember",
  "AckNotAMember"
])

/** One dropped peer message: who sent which kind, and the rule that dropped it. */
export interface DroppedMessage {
  readonly from: BaseboardId
  readonly kind: PeerMsgKind["_tag"]
  readonly reason: DropReason
}

/** Dropped messages kept for debugging: enough to explain the last few events, bounded so memory stays flat. */
export const maxDroppedMessages = 64

/** The context of one protocol node. */
export class NodeCtx {
  readonly id: BaseboardId
  readonly policy: Policy
  #state: PersistentState.PersistentState
  #dirty = false
  readonly #connected = new Map<string, BaseboardId>()
  #outbox: Array<Envelope> = []
  readonly #alarms: Array<Alarm> = []
  readonly #dropped: Array<DroppedMessage> = []
  /** Drops since the caller last drained them (at most `maxDroppedMessages`), and how many did not fit. */
  #fresh: Array<DroppedMessage> = []
  #freshOverflow = 0

  constructor(id: BaseboardId, persistentState: PersistentState.PersistentState, policy: Policy) {
    this.id = id
    this.#state = persistentState
    this.policy = policy
  }

  get persistentState(): PersistentState.PersistentState {
    return this.#state
  }

  /** Connected peers, keyed by `BaseboardId.key`. */
  get connected(): ReadonlyMap<string, BaseboardId> {
    return this.#connected
  }

  /** The alarms raised since this node started, each once (an alarm is a set member, as in the original). */
  get alarms(): ReadonlyArray<Alarm> {
    return this.#alarms
  }

  /** The most recent dropped peer messages, oldest first (at most `maxDroppedMessages`). */
  get dropped(): ReadonlyArray<DroppedMessage> {
    return this.#dropped
  }

  // ---- handler side ---------------------------------------------------------------------------

  /**
   * Queues a message to `to`, stamped with this node's rack id. Every sending rule runs after a
   * configuration is known, so a missing rack id is a protocol bug: a defect, never a returned error.
   */
  send(to: BaseboardId, kind: PeerMsgKind): void {
    const rackId = PersistentState.rackId(this.#state)
    if (rackId === undefined) throw new Error(`protocol bug: ${this.id} sends ${kind._tag} before knowing its rack id`)
    this.#outbox.push({ to, from: this.id, msg: new PeerMsg({ rackId, kind }) })
  }

  /** Replaces the state with `f`'s result; `undefined` means unchanged. A change sets the sticky dirty flag. */
  updatePersistentState(f: (s: PersistentState.PersistentState) => PersistentState.PersistentState | undefined): void {
    const next = f(this.#state)
    if (next !== undefined) {
      this.#state = next
      this.#dirty = true
    }
  }

  /** Records an alarm; raising an equal alarm again changes nothing. */
  raiseAlarm(alarm: Alarm): void {
    if (!this.#alarms.some((a) => Equal.equals(a, alarm))) this.#alarms.push(alarm)
  }

  /** Records why a peer message had no effect, forgetting the oldest record beyond the bound. */
  recordDrop(from: BaseboardId, kind: PeerMsgKind["_tag"], reason: DropReason): void {
    const drop = { from, kind, reason }
    this.#dropped.push(drop)
    if (this.#dropped.length > maxDroppedMessages) this.#dropped.shift()
    if (this.#fresh.length < maxDroppedMessages) this.#fresh.push(drop)
    else this.#freshOverflow++
  }

  addConnection(peer: BaseboardId): void {
    this.#connected.set(peer.key, peer)
  }

  removeConnection(peer: BaseboardId): void {
    this.#connected.delete(peer.key)
  }

  isConnected(peer: BaseboardId): boolean {
    return this.#connected.has(peer.key)
  }

  // ---- caller side ----------------------------------------------------------------------------

  /** Takes every queued envelope, in the order they were queued. */
  drainEnvelopes(): ReadonlyArray<Envelope> {
    const out = this.#outbox
    this.#outbox = []
    return out
  }

  /** The queued envelopes, without taking them. */
  get envelopes(): ReadonlyArray<Envelope> {
    return this.#outbox
  }

  /** Takes the drops recorded since the last call (for logging), and how many more were not kept. */
  drainDrops(): { readonly drops: ReadonlyArray<DroppedMessage>; readonly overflow: number } {
    const out = { drops: this.#fresh, overflow: this.#freshOverflow }
    this.#fresh = []
    this.#freshOverflow = 0
    return out
  }

  /** Reads and clears the dirty flag: true when the state must be persisted before anything is sent. */
  persistentStateChangeCheckAndReset(): boolean {
    const dirty = this.#dirty
    this.#dirty = false
    return dirty
  }
}
