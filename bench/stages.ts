/**
 * Where a proxied request's CPU goes: `nodeA.proxy.status(B)` over TCP with 1 and with 256 requests in flight,
 * each run in a child process under V8's sampling profiler (`--cpu-prof`, 100 µs). The samples taken while the
 * requests ran are put in stages by the file of the function they were taken in — codec (Schema, JSON, UTF-8,
 * `Wire`), the Effect runtime (fibers, scheduler, queues), sockets (Node's streams and `net`, the kernel
 * writes, `Transport`, `Frame`), bookkeeping (NodeTask, Link, tracker, operations, metrics), garbage
 * collection, and the rest — and the child's own CPU time (user + system) per request is split in those
 * proportions. Idle samples are left out. Both nodes run in the child, so a request's CPU is both of its ends.
 * Options: `--requests N` per run (default 20,000).
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Fiber } from "effect"
import { startNode } from "./nodes.ts"

const stages = ["codec", "effect runtime", "sockets", "bookkeeping", "garbage collection", "other"] as const
type Stage = (typeof stages)[number]

const stageOf = (name: string, url: string): Stage | undefined => {
  const file = url.split("/").pop() ?? ""
  if (name === "(idle)") return undefined
  if (name === "(garbage collector)") return "garbage collection"
  if (
    /^(Schema\w*|Wire|encoding|util)\.|^encoding$/.test(file) ||
    /^(decodeUTF8|encodeUtf8String|parse|stringify)$/.test(name)
  )
    return "codec"
  if (
    /^(effect|core|Scheduler|Queue|Deferred|Fiber|Exit|Cause|Context|Result|Option|Pipeable|Predicate)\.js$/.test(file)
  )
    return "effect runtime"
  if (
    /^(Transport|Frame)\.ts$|^(net|stream_base_commons|writable|readable|buffer)$/.test(file) ||
    /^(writeBuffer|writev)$/.test(name)
  )
    return "sockets"
  if (/^(NodeTask|Link|ProxyTracker|ProxyOperation|TrustQuorumNode|ConnectionManager)\.ts$|^Metric\.js$/.test(file))
    return "bookkeeping"
  return "other"
}

const round = (x: number) => Math.round(x * 10) / 10

/** The child: runs the requests and prints when they started and ended, and the CPU they took. */
const child = (inFlight: number, requests: number) =>
  Effect.gen(function* () {
    const a = yield* startNode("0")
    const b = yield* startNode("1")
    yield* a.setPeers([b.listenAddress])
    yield* b.setPeers([a.listenAddress])
    yield* Effect.repeat(a.status, { until: (s) => s.connectedPeers.length === 1 })
    const op = a.proxy.status(b.id)
    for (let i = 0; i < 2000; i++) yield* op
    const perCaller = Math.ceil(requests / inFlight)
    const caller = Effect.gen(function* () {
      for (let i = 0; i < perCaller; i++) yield* op
    })
    const cpu = process.cpuUsage()
    const startNs = process.hrtime.bigint()
    const fibers = yield* Effect.forEach(Array.from({ length: inFlight }), () =>
      Effect.forkChild(caller, { startImmediately: true })
    )
    yield* Fiber.joinAll(fibers)
    const endNs = process.hrtime.bigint()
    const used = process.cpuUsage(cpu)
    return {
      startUs: Number(startNs / 1000n),
      endUs: Number(endNs / 1000n),
      requests: perCaller * inFlight,
      cpuUs: used.user + used.system
    }
  })

interface Profile {
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: { functionName: string; url: string } }>
  readonly startTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const measure = (inFlight: number, requests: number) => {
  const dir = mkdtempSync(join(tmpdir(), "tq-stages-"))
  try {
    const out = execFileSync(
      process.execPath,
      [
        "--experimental-strip-types",
        "--no-warnings",
        "--cpu-prof",
        `--cpu-prof-dir=${dir}`,
        "--cpu-prof-interval=100",
        new URL(import.meta.url).pathname,
        "--child",
        String(inFlight),
        String(requests)
      ],
      { encoding: "utf8", maxBuffer: 1 << 24 }
    )
    const run: { startUs: number; endUs: number; requests: number; cpuUs: number } = JSON.parse(
      out.trim().split("\n").pop() ?? "{}"
    )
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile")) ?? ""
    const profile: Profile = JSON.parse(readFileSync(join(dir, file), "utf8"))
    const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame] as const))
    const totals = new Map<Stage, number>(stages.map((s) => [s, 0]))
    let t = profile.startTime
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas[i] ?? 0
      t += delta
      const frame = byId.get(id)
      if (t < run.startUs || t > run.endUs || frame === undefined) return
      const stage = stageOf(frame.functionName, frame.url)
      if (stage !== undefined) totals.set(stage, (totals.get(stage) ?? 0) + delta)
    })
    const sampled = Array.from(totals.values()).reduce((x, y) => x + y, 0)
    const cpuPerRequest = run.cpuUs / run.requests
    return {
      wall_us_per_request: round((run.endUs - run.startUs) / run.requests),
      cpu_us_per_request: round(cpuPerRequest),
      stages_us: Object.fromEntries(
        stages.map((s) => [s, round(((totals.get(s) ?? 0) / Math.max(1, sampled)) * cpuPerRequest)])
      )
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const requestsArg = (argv: ReadonlyArray<string>) => {
  const i = argv.indexOf("--requests")
  const n = i >= 0 ? Number(argv[i + 1]) : 20_000
  return Number.isInteger(n) && n > 0 ? n : 20_000
}

export const run = async (argv: ReadonlyArray<string>) => {
  const requests = requestsArg(argv)
  return {
    in_flight: { "1": measure(1, requests), "256": measure(256, requests) },
    requests_per_run: requests,
    machine: { cores: cpus().length, node: process.version, load_average_1m_at_end: round(loadavg()[0] ?? 0) }
  }
}

if (process.argv[2] === "--child") {
  const result = await Effect.runPromise(
    Effect.scoped(child(Number(process.argv[3]), Number(process.argv[4]))).pipe(Effect.map((r) => JSON.stringify(r)))
  )
  console.log(result)
  process.exit(0)
}
