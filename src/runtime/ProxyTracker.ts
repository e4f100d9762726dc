/**
 * The proxy tracker: the requests this node forwarded and is waiting on, one entry each, indexed by
 * request id and by the link that carries it — so a closed link fails exactly its own requests, in
 * time proportional to their number, and a caller that gives up removes its entry at once.
 *
 * Callers register their own requests and links complete them where answers are read; closures arrive
 * through the NodeTask. Every method is synchronous, so no entry is ever observed half registered, and each
 * updates the metrics as it changes the entries, so they are exact. Request ids are allocated here, so
 * duplicates are impossible by construction.
 */
import { type Context, Metric } from "effect"

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
  /** Where the metrics live (the NodeTask's context). */
  readonly #context: Context.Context<never>

  constructor(capacity: number, context: Context.Context<never>) {
    this.capacity = capacity
    this.#context = context
  }

  #sized(): void {
    metrics.inFlight.updateUnsafe(this.#byRequest.size, this.#context)
  }

  get size(): number {
    return this.#byRequest.size
  }

  get isFull(): boolean {
    return this.#byRequest.size >= this.capacity
  }

  /** Counts a request refused because the tracker was full. */
  refuse(): void {
    metrics.busy.updateUnsafe(1, this.#context)
  }

  /** Registers a request (before its frame is offered to the link) and returns its fresh id. */
  register(entry: Entry): number {
    const id = this.#nextId++
    this.#byRequest.set(id, entry)
    const ids = this.#byConnection.get(entry.connectionId) ?? new Set<number>()
    ids.add(id)
    this.#byConnection.set(entry.connectionId, ids)
    this.#sized()
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
    this.#sized()
  }

  /** Delivers an answer from `from`; false if it was dropped (unknown id, or not from the destination). */
  answer(requestId: number, from: string, outcome: string, value: unknown): boolean {
    const entry = this.#byRequest.get(requestId)
    if (entry === undefined || entry.destination !== from) {
      metrics.lateResponses.updateUnsafe(1, this.#context)
      return false
    }
    this.remove(requestId)
    metrics.completed.updateUnsafe(1, this.#context)
    entry.answer(outcome, value)
    return true
  }

  /** Fails exactly the requests carried by a closed link; returns how many. */
  failConnection(connectionId: number): number {
    const ids = this.#byConnection.get(connectionId)
    this.#byConnection.delete(connectionId)
    if (ids === undefined) return 0
    const entries = Array.from(ids, (id) => {
      const entry = this.#byRequest.get(id)
      this.#byRequest.delete(id)
      return entry
    })
    this.#sized()
    metrics.disconnected.updateUnsafe(entries.length, this.#context)
    // Failed after the tracker is consistent: a caller resumed here may register its next request at once.
    for (const entry of entries) entry?.fail("Disconnected")
    return entries.length
  }

  /** Fails every request (the node is stopping). */
  failAll(): void {
    const entries = Array.from(this.#byRequest.values())
    this.#byRequest.clear()
    this.#byConnection.clear()
    this.#sized()
    for (const entry of entries) entry.fail("NodeStopped")
  }
}
