/**
 * The protocol node's context: its persistent state, the peers it is connected to, the outbox of
 * envelopes it wants sent, the alarms it raised, and the dirty flag.
 *
 * The protocol only records intent here. The caller (the runtime's NodeTask or the simulator) reads
 * the dirty flag once per call, persists the state if it is set, replies, and only then sends the
 * drained envelopes — so no acknowledgement ever leaves for state that is not durable.
 */
import type { Alarm } from "../types/Alarm.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import { PeerMsg, type PeerMsgKind } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"

/** A message on its way from one node to another. */
export interface Envelope {
  readonly to: BaseboardId
  readonly from: BaseboardId
  readonly msg: PeerMsg
}

/** The context of one protocol node. */
export class NodeCtx {
  readonly id: BaseboardId
  #state: PersistentState.PersistentState
  #dirty = false
  readonly #connected = new Map<string, BaseboardId>()
  #outbox: Array<Envelope> = []
  readonly #alarms: Array<Alarm> = []

  constructor(id: BaseboardId, persistentState: PersistentState.PersistentState) {
    this.id = id
    this.#state = persistentState
  }

  get persistentState(): PersistentState.PersistentState {
    return this.#state
  }

  /** Connected peers, keyed by `BaseboardId.key`. */
  get connected(): ReadonlyMap<string, BaseboardId> {
    return this.#connected
  }

  get alarms(): ReadonlyArray<Alarm> {
    return this.#alarms
  }

  /** Queues a message to `to`, stamped with this node's rack id. A node without a rack id never sends. */
  send(to: BaseboardId, kind: PeerMsgKind): void {
    const rackId = PersistentState.rackId(this.#state)
    if (rackId === undefined) throw new Error("protocol bug: sending a peer message before knowing the rack id")
    this.#outbox.push({ to, from: this.id, msg: new PeerMsg({ rackId, kind }) })
  }

  /** Replaces the state with `f`'s result; `undefined` means unchanged. A change sets the dirty flag. */
  updatePersistentState(f: (s: PersistentState.PersistentState) => PersistentState.PersistentState | undefined): void {
    const next = f(this.#state)
    if (next !== undefined) {
      this.#state = next
      this.#dirty = true
    }
  }

  raiseAlarm(alarm: Alarm): void {
    this.#alarms.push(alarm)
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

  /** Takes every queued envelope. */
  drainEnvelopes(): ReadonlyArray<Envelope> {
    const out = this.#outbox
    this.#outbox = []
    return out
  }

  get envelopes(): ReadonlyArray<Envelope> {
    return this.#outbox
  }

  /** Reads and clears the dirty flag: true when the state must be persisted before anything is sent. */
  persistentStateChangeCheckAndReset(): boolean {
    const dirty = this.#dirty
    this.#dirty = false
    return dirty
  }
}
