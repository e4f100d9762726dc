/**
 * Spans on the hot path, only where a tracing backend can see them.
 *
 * With Effect's default tracer (`Tracer.nativeTracer`) a span is exported nowhere, yet it is allocated per
 * request, holds its attributes, and its ids would ride every proxied frame: on the proxy that halved the
 * throughput and quadrupled the heap per request in flight. `traced` opens a span only when the fiber's
 * tracer is another one (an OTLP exporter, a test's tracer), and `exported` gives the span a frame may carry.
 */
import { Context, Effect, type Fiber, Tracer } from "effect"

/** Whether the fiber's tracer exports spans somewhere (it is not Effect's in-memory default). */
const isTracing = (fiber: Fiber.Fiber<unknown, unknown>): boolean => fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer

/** `Effect.withSpan(name, options)` when a tracing backend is installed; the effect unchanged otherwise. */
export const traced =
  (name: string, options?: Tracer.SpanOptions) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiber((fiber) => (isTracing(fiber) ? Effect.withSpan(self, name, options) : self))

/** The fiber's current span when a tracing backend will export it (so a peer's span may join its trace). */
export const exported = (fiber: Fiber.Fiber<unknown, unknown>): Tracer.AnySpan | undefined =>
  isTracing(fiber) ? Context.getOrUndefined(fiber.context, Tracer.ParentSpan) : undefined
