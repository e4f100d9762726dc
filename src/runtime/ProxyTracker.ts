/**
 * The proxy tracker: the requests this node forwarded and is waiting on, one entry each, indexed by
 * request id and by the link that carries it — so a closed link fails exactly its own requests, in
 * time proportional to their number, and a caller that gives up removes its entry at once.
 *
 * It is owned by the NodeTask fiber; every method is synchronous, so no entry is ever observed half
 * registered. Request ids are allocated here, so duplicates are impossible by construction.
 */
import { Metric } from "effect"

/** How an entry ends: a decoded answer, or a failure chosen by the tracker's owner. */
export interface Entry {
  readonly connectionId: number
  /** The destination's key; only it may answer. */
  readonly destination: string
  readonly answer: (outcome: string, value: unknown) => void
  readonly fail: (reason: "Disconnected" | "NodeStopped") => void
}

export const metrics = {
  inFlight: Metric.gauge("tq_proxy_in_flight", { description: "proxied requests awaiting an answer" }),
  completed: Metric.counter("tq_proxy_completed", { description: "proxied requests answered" }),
  disconnected: Metric.counter("tq_proxy_disconnected", { description: "proxied requests failed by a closed link" }),
  busy: Metric.counter("tq_proxy_busy", { description: "proxy requests refused because the tracker was full" }),
  lateResponses: Metric.counter("tq_proxy_late_responses", {
    description: "answers with no waiting request, or from the wrong peer"
  })
}

/** The tracker of one node. */
export class ProxyTracker {
  readonly capacity: number
  readonly #byRequest = new Map<number, Entry>()
  readonly #byConnection = new Map<number, Set<number>>()
  #nextId = 1
  /** Answers dropped: unknown or late request ids, and answers from a peer other than the destination. */
  lateResponses = 0

  constructor(capacity: number) {
    this.capacity = capacity
  }

  get size(): number {
    return this.#byRequest.size
  }

  get isFull(): boolean {
    return this.#byRequest.size >= this.capacity
  }

  /** Registers a request (before its frame is offered to the link) and returns its fresh id. */
  register(entry: Entry): number {
    const id = this.#nextId++
    this.#byRequest.set(id, entry)
    const ids = this.#byConnection.get(entry.connectionId) ?? new Set<number>()
    ids.add(id)
    this.#byConnection.set(entry.connectionId, ids)
    return id
  }

  /** Removes a request whose caller gave up (interrupted or timed out). */
  remove(requestId: number): void {
    const entry = this.#byRequest.get(requestId)
    if (entry === undefined) return
    this.#byRequest.delete(requestId)
    const ids = this.#byConnection.get(entry.connectionId)
    ids?.delete(requestId)
    if (ids?.size === 0) this.#byConnection.delete(entry.connectionId)
  }

  /** Delivers an answer from `from`; false if it was dropped (unknown id, or not from the destination). */
  answer(requestId: number, from: string, outcome: string, value: unknown): boolean {
    const entry = this.#byRequest.get(requestId)
    if (entry === undefined || entry.destination !== from) {
      this.lateResponses++
      return false
    }
    this.remove(requestId)
    entry.answer(outcome, value)
    return true
  }

  /** Fails exactly the requests carried by a closed link; returns how many. */
  failConnection(connectionId: number): number {
    const ids = this.#byConnection.get(connectionId)
    this.#byConnection.delete(connectionId)
    if (ids === undefined) return 0
    for (const id of ids) {
      const entry = this.#byRequest.get(id)
      this.#byRequest.delete(id)
      entry?.fail("Disconnected")
    }
    return ids.size
  }

  /** Fails every request (the node is stopping). */
  failAll(): void {
    const entries = Array.from(this.#byRequest.values())
    this.#byRequest.clear()
    this.#byConnection.clear()
    for (const entry of entries) entry.fail("NodeStopped")
  }
}
