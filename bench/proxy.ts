/**
 * The proxy against raw echoes over the same sockets, variants interleaved round by round in one process.
 *
 * Variants: `net` — a bare `node:net` echo (68-byte writes, no framing code, no Effect); `raw-tcp` — a framed
 * echo over `Transport.insecureTcp` (no node, no Schema, no tracker); `proxied-tcp` — `nodeA.proxy.status(B)` over TCP;
 * `raw-tls` and `proxied-tls` — the same over mutual TLS 1.3. Each round measures p50/p99/mean latency with one
 * caller, the variants taking turns in blocks of 200 requests (so their ratios compare the same moments of a
 * shared machine); then each variant in a rotated order runs 20,000 requests with 1, 32, 256 and 1,024
 * callers (throughput, and the p99 latency at 256). After the rounds, the heap per in-flight proxied request
 * (1,000 requests waiting on a silent destination). Every run starts from a collected heap. Reports the
 * median and range over rounds of every figure.
 * Options: `--rounds N` (default 5); `--only a,b` runs only the named variants (the ratios need both sides). Targets: p50 ratio ≤ 1.35 to the raw framed echo over TCP and ≤ 1.5 over
 * TLS; ≥ 80,000 proxied Status/s at 256 in flight; p99 at 256 in flight ≤ 15 ms; heap ≤ 1.2 KB per request.
 */
import * as net from "node:net"
import { cpus, loadavg } from "node:os"
import { Effect, Fiber, Result, type Scope } from "effect"
import * as Frame from "../src/runtime/Frame.ts"
import * as RackPki from "../src/runtime/RackPki.ts"
import * as Transport from "../src/runtime/Transport.ts"
import * as Wire from "../src/runtime/Wire.ts"
import * as BaseboardId from "../src/types/BaseboardId.ts"
import { startNode } from "./nodes.ts"

const latencySamples = 2000
const throughputRequests = 20_000
const inFlight = [1, 32, 256, 1024] as const
const heapRequests = 1000

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits

type Op = Effect.Effect<unknown, unknown>

/** A full collection, when the process runs with `--expose-gc` (as `npm run bench` does). */
const collectGarbage = () => globalThis.gc?.()

/**
 * Latency of each op run sequentially, in microseconds. The ops take turns in blocks of 200 requests (the first
 * op of each block rotating), so every variant sees the same moments of a shared machine and the ratios of their
 * p50s are not the ratio of two different loads.
 */
const latencies = (ops: ReadonlyArray<Op>) =>
  Effect.gen(function* () {
    const block = 200
    const samples = ops.map((): Array<number> => [])
    const busy = ops.map(() => 0)
    for (const op of ops) for (let i = 0; i < block; i++) yield* op
    collectGarbage()
    for (let b = 0; b < latencySamples / block; b++) {
      for (let k = 0; k < ops.length; k++) {
        const j = (k + b) % ops.length
        const op = ops[j]
        const own = samples[j]
        if (op === undefined || own === undefined) continue
        const started = performance.now()
        for (let i = 0; i < block; i++) {
          const t = performance.now()
          yield* op
          own.push((performance.now() - t) * 1000)
        }
        busy[j] = (busy[j] ?? 0) + (performance.now() - started)
      }
    }
    return samples.map((own, j) => {
      own.sort((a, b) => a - b)
      return {
        p50_us: percentile(own, 0.5),
        p99_us: percentile(own, 0.99),
        mean_us: ((busy[j] ?? 0) * 1000) / latencySamples
      }
    })
  })

/** Requests per second with one caller per op, each running its op in a plain loop; and the p99 latency in ms. */
const throughput = (ops: ReadonlyArray<Op>) =>
  Effect.gen(function* () {
    const perCaller = Math.ceil(throughputRequests / ops.length)
    const samples: Array<number> = []
    let failed = 0
    const caller = (op: Op) =>
      Effect.gen(function* () {
        for (let i = 0; i < perCaller; i++) {
          const t = performance.now()
          const exit = yield* Effect.exit(op)
          if (exit._tag === "Failure") failed++
          samples.push(performance.now() - t)
        }
      })
    const t = performance.now()
    const fibers = yield* Effect.forEach(ops, (op) => Effect.forkChild(caller(op), { startImmediately: true }))
    yield* Fiber.joinAll(fibers)
    const perS = (perCaller * ops.length) / ((performance.now() - t) / 1000)
    samples.sort((a, b) => a - b)
    return { perS, p99Ms: percentile(samples, 0.99), failed }
  })

/** A bare `node:net` echo: one server socket per client echoing what it reads; a caller awaits its 68 bytes. */
const netEcho = Effect.gen(function* () {
  const server = yield* Effect.acquireRelease(
    Effect.callback<net.Server>((resume) => {
      const s = net.createServer((socket) => {
        socket.setNoDelay(true)
        socket.on("error", () => undefined)
        socket.on("data", (chunk) => socket.write(chunk))
      })
      s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
    }),
    (s) => Effect.sync(() => s.close())
  )
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  const message = Buffer.alloc(68, 7)
  return Effect.acquireRelease(
    Effect.callback<net.Socket>((resume) => {
      const socket = net.connect({ port, host: "127.0.0.1", noDelay: true }, () => resume(Effect.succeed(socket)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(
    Effect.map((socket): Op => {
      let waiting: (() => void) | undefined
      let received = 0
      socket.on("data", (chunk: Buffer) => {
        received += chunk.length
        if (received >= message.length && waiting !== undefined) {
          received -= message.length
          const done = waiting
          waiting = undefined
          done()
        }
      })
      return Effect.callback<void>((resume) => {
        waiting = () => resume(Effect.void)
        socket.write(message)
      })
    })
  )
})

/** A framed echo over `transport`: each caller has its own connection (an echo has no ids to match replies). */
const rawEcho = (transport: Transport.Transport) =>
  Effect.gen(function* () {
    const listener = yield* transport.listen({ host: "127.0.0.1", port: 0 })
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const conn = yield* listener.accept
          yield* Effect.forkScoped(
            Effect.gen(function* () {
              while (true) yield* conn.write(yield* conn.read)
            }).pipe(Effect.ignore)
          )
        })
      )
    )
    const payload = new Uint8Array(64).fill(7)
    return Effect.map(transport.dial(listener.address), (conn): Op => Effect.andThen(conn.write(payload), conn.read))
  })

/** Two nodes linked over `transport`; the op is one proxied Status from A to B. */
const proxied = (transports: readonly [Transport.Transport, Transport.Transport]) =>
  Effect.gen(function* () {
    const a = yield* startNode("0", transports[0])
    const b = yield* startNode("1", transports[1])
    yield* a.setPeers([b.listenAddress])
    yield* b.setPeers([a.listenAddress])
    yield* Effect.repeat(a.status, { until: (s) => s.connectedPeers.length === 1 })
    // A fresh effect per caller is not needed: every run of `status` is a new request.
    return Effect.succeed<Op>(a.proxy.status(b.id))
  })

interface Sample {
  readonly p50_us: number
  readonly p99_us: number
  readonly mean_us: number
  readonly throughput_per_s: Record<string, number>
  readonly p99_ms_at_256: number
  /** Requests that failed (e.g. `Busy`), by callers in flight; they count in the throughput, so it must be 0. */
  readonly failed: Record<string, number>
}

/** The throughput runs of one variant: `caller` makes an op (a connection, for echoes). */
const measureThroughput = (caller: Effect.Effect<Op, unknown, Scope.Scope>) =>
  Effect.gen(function* () {
    const perS: Record<string, number> = {}
    const failed: Record<string, number> = {}
    let p99At256 = 0
    for (const n of inFlight) {
      const t = yield* Effect.scoped(
        Effect.gen(function* () {
          const ops = yield* Effect.forEach(Array.from({ length: n }), () => caller)
          // Each run starts from a collected heap, so it does not pay for the garbage of the run before it (an
          // echo's 1,024 sockets, say): one full collection's pause, hitting all 256 requests in flight, is
          // more than 1% of a 20,000-request run and would alone set its p99.
          collectGarbage()
          return yield* throughput(ops)
        })
      )
      perS[String(n)] = t.perS
      failed[String(n)] = t.failed
      if (n === 256) p99At256 = t.p99Ms
    }
    return { throughput_per_s: perS, p99_ms_at_256: p99At256, failed }
  })

/** Bytes of heap per proxied request waiting on a destination that completed the handshake and never answers. */
const heapPerRequest = Effect.gen(function* () {
  const a = yield* startNode("0", Transport.insecureTcp)
  const silent = BaseboardId.make("913-0000019", "9")
  const socket = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const s = net.connect(a.listenAddress.port, "127.0.0.1")
      s.on("error", () => undefined)
      s.resume()
      const hello = new Wire.Hello({
        id: silent,
        listenAddress: { host: "127.0.0.1", port: 1 },
        protocolVersion: Wire.protocolVersion
      })
      s.write(Result.getOrThrow(Frame.encode(Wire.encode(hello))))
      return s
    }),
    (s) => Effect.sync(() => s.destroy())
  )
  yield* Effect.repeat(a.status, { until: (s) => s.connectedPeers.length === 1 })
  const heap = () => {
    collectGarbage()
    return process.memoryUsage().heapUsed
  }
  const fibers = yield* Effect.forEach(Array.from({ length: heapRequests }), () =>
    Effect.forkChild(a.proxy.status(silent), { startImmediately: true })
  )
  // Calls beyond the node's bound end at once (`Busy`); the rest wait on the silent destination.
  const waiting = yield* Effect.repeat(a.status, {
    until: (s) => s.proxiedRequests + fibers.filter((f) => f.pollUnsafe() !== undefined).length === heapRequests
  })
  const during = heap()
  yield* Fiber.interruptAll(fibers)
  yield* Effect.repeat(a.status, { until: (s) => s.proxiedRequests === 0 })
  // Measured against the same node once they are gone, so what was allocated once (caches, compiled code) is out.
  const after = heap()
  socket.destroy()
  return {
    in_flight: waiting.proxiedRequests,
    bytes_per_request: Math.round((during - after) / Math.max(1, waiting.proxiedRequests)),
    gc_forced: typeof globalThis.gc === "function"
  }
})

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2
}
const stat = (xs: ReadonlyArray<number>, digits = 1) => ({
  median: round(median(xs), digits),
  min: round(Math.min(...xs), digits),
  max: round(Math.max(...xs), digits)
})

const summarize = (samples: ReadonlyArray<Sample>) => ({
  p50_us: stat(samples.map((s) => s.p50_us)),
  p99_us: stat(samples.map((s) => s.p99_us)),
  mean_us: stat(samples.map((s) => s.mean_us)),
  throughput_per_s: Object.fromEntries(
    inFlight.map((n) => [
      String(n),
      stat(
        samples.map((s) => s.throughput_per_s[String(n)] ?? 0),
        0
      )
    ])
  ),
  p99_ms_at_256: stat(
    samples.map((s) => s.p99_ms_at_256),
    2
  ),
  failed: Object.fromEntries(
    inFlight.map((n) => [String(n), samples.reduce((sum, s) => sum + (s.failed[String(n)] ?? 0), 0)])
  )
})

/** The per-round ratio of two variants' p50, or none when either was not run (`--only`). */
const ratio = (over: ReadonlyArray<Sample>, under: ReadonlyArray<Sample>) =>
  over.length === 0 || under.length === 0
    ? null
    : stat(
        over.map((s, i) => s.p50_us / (under[i]?.p50_us ?? Number.NaN)),
        2
      )

const program = (rounds: number, only: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const ca = yield* RackPki.makeRackCa()
    const [tls0, tls1] = yield* Effect.forEach(["913-0000019:0", "913-0000019:1"], (id) =>
      Effect.map(RackPki.issueNodeCertificate(ca, id), Transport.tls)
    )
    if (tls0 === undefined || tls1 === undefined) throw new Error("credentials")
    const variants = {
      net: yield* netEcho,
      "raw-tcp": yield* rawEcho(Transport.insecureTcp),
      "proxied-tcp": yield* proxied([Transport.insecureTcp, Transport.insecureTcp]),
      "raw-tls": yield* rawEcho(tls0),
      "proxied-tls": yield* proxied([tls0, tls1])
    }
    const names = (Object.keys(variants) as Array<keyof typeof variants>).filter(
      (n) => only.length === 0 || only.includes(n)
    )
    const samples: Record<string, Array<Sample>> = Object.fromEntries(names.map((n) => [n, []]))
    for (let r = 0; r < rounds; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]).filter((n) => n !== undefined)
      const latency = yield* Effect.scoped(
        Effect.flatMap(
          Effect.forEach(order, (name) => variants[name]),
          latencies
        )
      )
      for (const [i, name] of order.entries()) {
        const l = latency[i]
        if (l === undefined) continue
        const sample: Sample = { ...l, ...(yield* measureThroughput(variants[name])) }
        samples[name]?.push(sample)
        console.error(
          `round ${r + 1}/${rounds} ${name}: p50 ${round(sample.p50_us)} µs, 256 in flight ${Math.round(sample.throughput_per_s["256"] ?? 0)}/s, p99 at 256 ${round(sample.p99_ms_at_256, 2)} ms`
        )
      }
    }
    const heap = yield* Effect.scoped(heapPerRequest)
    const get = (n: string) => samples[n] ?? []
    const summary = Object.fromEntries(names.map((n) => [n, summarize(get(n))]))
    const tcpRatio = ratio(get("proxied-tcp"), get("raw-tcp"))
    const tlsRatio = ratio(get("proxied-tls"), get("raw-tls"))
    const proxiedTcp = summary["proxied-tcp"]
    return {
      rounds,
      variants: summary,
      p50_ratio_tcp: tcpRatio,
      p50_ratio_tcp_to_net: ratio(get("proxied-tcp"), get("net")),
      p50_ratio_tls: tlsRatio,
      heap_per_in_flight_request: heap,
      targets: {
        p50_ratio_tcp: { max: 1.35, met: tcpRatio === null ? null : tcpRatio.median <= 1.35 },
        p50_ratio_tls: { max: 1.5, met: tlsRatio === null ? null : tlsRatio.median <= 1.5 },
        proxied_tcp_256_per_s: {
          min: 80_000,
          met: proxiedTcp === undefined ? null : (proxiedTcp.throughput_per_s["256"]?.median ?? 0) >= 80_000
        },
        p99_ms_at_256: { max: 15, met: proxiedTcp === undefined ? null : proxiedTcp.p99_ms_at_256.median <= 15 },
        heap_bytes_per_request: { max: 1200, met: heap.bytes_per_request <= 1200 }
      },
      machine: { cores: cpus().length, node: process.version, load_average_1m_at_end: round(loadavg()[0] ?? 0, 2) }
    }
  })

const roundsArg = (argv: ReadonlyArray<string>) => {
  const i = argv.indexOf("--rounds")
  const n = i >= 0 ? Number(argv[i + 1]) : 5
  return Number.isInteger(n) && n > 0 ? n : 5
}

const onlyArg = (argv: ReadonlyArray<string>) => {
  const i = argv.indexOf("--only")
  return i >= 0 ? (argv[i + 1] ?? "").split(",") : []
}

export const run = (argv: ReadonlyArray<string>) =>
  Effect.runPromise(Effect.scoped(program(roundsArg(argv), onlyArg(argv))))
