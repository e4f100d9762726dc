/**
 * The proxy against a raw framed echo over the same transport, in the same run.
 *
 * (a) raw: a caller on A writes a frame to B over `Transport.insecureTcp`; B echoes it (no node, no Schema, no
 *     tracker). (b) proxied: `nodeA.proxy.status(B)` — A's NodeTask, tracker and codec, B's NodeTask
 *     serving Status, and back. Reports p50/p99 latency with one caller, and throughput with 1, 32 and
 *     256 requests in flight, plus the ratios. Targets: p50 ratio ≤ 1.5; ≥ 20,000 proxied Status/s at 256.
 */
import { cpus } from "node:os"
import { Effect, Fiber } from "effect"
import * as Transport from "../src/runtime/Transport.ts"
import { startTcpNode } from "./nodes.ts"

const latencySamples = 3000
const throughputRequests = 40_000
const inFlight = [1, 32, 256] as const

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits

/** Latency of `op` run sequentially, in microseconds. */
const latency = (op: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 300; i++) yield* op
    const samples: Array<number> = []
    const started = performance.now()
    for (let i = 0; i < latencySamples; i++) {
      const t = performance.now()
      yield* op
      samples.push((performance.now() - t) * 1000)
    }
    const meanUs = ((performance.now() - started) * 1000) / latencySamples
    samples.sort((a, b) => a - b)
    return { p50_us: round(percentile(samples, 0.5)), p99_us: round(percentile(samples, 0.99)), mean_us: round(meanUs) }
  })

/** `op` run `times` times back to back (a plain loop: `Effect.repeat`'s schedule would add a timer per step). */
const loop = (op: Effect.Effect<unknown, unknown>, times: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < times; i++) yield* op
  })

/** Operations per second with one caller per op in `ops`, each running its op in a loop. */
const throughput = (ops: ReadonlyArray<Effect.Effect<unknown, unknown>>) =>
  Effect.gen(function* () {
    const perCaller = Math.ceil(throughputRequests / ops.length)
    const t = performance.now()
    const fibers = yield* Effect.forEach(ops, (op) => Effect.forkChild(loop(op, perCaller), { startImmediately: true }))
    yield* Fiber.joinAll(fibers)
    return Math.round((perCaller * ops.length) / ((performance.now() - t) / 1000))
  })

const program = Effect.gen(function* () {
  // (a) the raw framed echo
  const listener = yield* Transport.insecureTcp.listen({ host: "127.0.0.1", port: 0 })
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.gen(function* () {
        const conn = yield* listener.accept
        yield* Effect.forkScoped(
          // A plain loop, as the links use: `Effect.forever` yields each step, defeating write batching.
          Effect.gen(function* () {
            while (true) yield* conn.write(yield* conn.read)
          }).pipe(Effect.ignore)
        )
      })
    )
  )
  const payload = new Uint8Array(64).fill(7)
  // One connection per caller: a frame echo has no request ids to match concurrent replies.
  const rawCaller = Effect.map(Transport.insecureTcp.dial(listener.address), (conn) =>
    Effect.andThen(conn.write(payload), conn.read)
  )
  const rawOne = yield* rawCaller
  const rawLatency = yield* latency(rawOne)
  const rawThroughput: Record<string, number> = {}
  for (const n of inFlight) {
    rawThroughput[String(n)] = yield* throughput(yield* Effect.forEach(Array.from({ length: n }), () => rawCaller))
  }

  // (b) the proxy: node A forwards Status to node B over the same transport
  const a = yield* startTcpNode("0")
  const b = yield* startTcpNode("1")
  yield* a.setPeers([b.listenAddress])
  yield* b.setPeers([a.listenAddress])
  yield* Effect.repeat(a.status, { until: (s) => s.connectedPeers.length === 1 })
  const proxied = a.proxy.status(b.id)
  const proxiedLatency = yield* latency(proxied)
  const proxiedThroughput: Record<string, number> = {}
  for (const n of inFlight) proxiedThroughput[String(n)] = yield* throughput(Array.from({ length: n }, () => proxied))

  return {
    transport: "tcp",
    raw: { ...rawLatency, throughput_per_s: rawThroughput },
    proxied: { ...proxiedLatency, throughput_per_s: proxiedThroughput },
    p50_ratio: round(proxiedLatency.p50_us / rawLatency.p50_us, 2),
    p99_ratio: round(proxiedLatency.p99_us / rawLatency.p99_us, 2),
    throughput_per_s: proxiedThroughput,
    targets: { p50_ratio_max: 1.5, proxied_256_min_per_s: 20_000 },
    machine: { cores: cpus().length, node: process.version }
  }
})

export const run = () => Effect.runPromise(Effect.scoped(program))
