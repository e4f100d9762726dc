/**
 * The node's metrics besides the proxy's (`ProxyTracker.metrics`): links up and closed (by reason),
 * handshakes refused (by reason), ledger writes (latency and copies reached) and the NodeTask's queue
 * depth. Effect keeps them in the process's metric registry; the node API serves them all at
 * `/metrics` in the Prometheus text format. Updates happen per link event, per ledger write and per
 * NodeTask event — never per frame.
 */
import { Effect, Metric } from "effect"
import * as ProxyTracker from "./ProxyTracker.ts"

export const metrics = {
  links: Metric.gauge("tq_links", { description: "authenticated peer links open" }),
  linkClosures: Metric.counter("tq_link_closures", {
    description: "peer links closed, by reason (Eof, Reset, Inactivity, WriteQueueFull, DecodeError, Replaced, …)"
  }),
  handshakesRefused: Metric.counter("tq_handshakes_refused", {
    description: "peer connections refused during the handshake, by reason"
  }),
  ledgerWrites: Metric.timer("tq_ledger_write", {
    description: "milliseconds to write the ledger to every copy (temp file, fsync, rename, fsync directory)",
    boundaries: Metric.exponentialBoundaries({ start: 0.25, factor: 2, count: 14 })
  }),
  ledgerCopiesWritten: Metric.gauge("tq_ledger_copies_written", {
    description: "ledger copies the last write reached"
  }),
  ledgerCopiesConfigured: Metric.gauge("tq_ledger_copies_configured", { description: "ledger copies configured" }),
  queueDepth: Metric.gauge("tq_node_task_queue_depth", {
    description: "events waiting for the NodeTask (API calls, link frames and closures)"
  })
}

/** Counts one link closure with its reason as the `reason` attribute. */
export const linkClosed = (reason: string) => Metric.update(Metric.withAttributes(metrics.linkClosures, { reason }), 1)

/** Counts one refused handshake with its reason as the `reason` attribute. */
export const handshakeRefused = (reason: string) =>
  Metric.update(Metric.withAttributes(metrics.handshakesRefused, { reason }), 1)

/**
 * Puts every counter and gauge of a node in the registry at zero when it starts, so a scrape lists
 * them all from the first moment (a series that appears only after its first event breaks `rate()`).
 */
export const register = Effect.forEach(
  [
    ...Object.values(ProxyTracker.metrics),
    metrics.links,
    metrics.linkClosures,
    metrics.handshakesRefused,
    metrics.ledgerCopiesWritten,
    metrics.ledgerCopiesConfigured,
    metrics.queueDepth
  ] satisfies ReadonlyArray<Metric.Metric<number, unknown>>,
  (metric: Metric.Metric<number, unknown>) => Metric.update(metric, 0),
  { discard: true }
)
