/**
 * Soak: 1,000,000 proxied Status requests from node A to node B over TCP, 256 in flight, with the link
 * killed at random every few tens of thousands of requests (callers that get `Disconnected` retry after 1 ms).
 * Heap (after a forced GC) and the tracker size are sampled at the start, every 100,000 requests and at
 * the end — both must end where they started. Also: time from a reset of the destination's connection to
 * `Disconnected` for a request in flight (target ≤ 25 ms), against a raw baseline of the reset itself being
 * noticed by a plain socket.
 * Requests can be lowered with TQ_SOAK_REQUESTS for a quick run.
 */
import * as net from "node:net"
import { cpus } from "node:os"
import { Effect, Fiber, Random, Result } from "effect"
import * as Frame from "../src/runtime/Frame.ts"
import * as Wire from "../src/runtime/Wire.ts"
import * as BaseboardId from "../src/types/BaseboardId.ts"
import { startNode } from "./nodes.ts"

const total = Number(process.env.TQ_SOAK_REQUESTS ?? 1_000_000)
const inFlight = 256
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10

const heap = () => {
  globalThis.gc?.()
  return mb(process.memoryUsage().heapUsed)
}

const soak = Effect.gen(function* () {
  const a = yield* startNode("0")
  const b = yield* startNode("1")
  const mesh = Effect.andThen(a.setPeers([b.listenAddress]), b.setPeers([a.listenAddress]))
  yield* mesh
  yield* Effect.repeat(a.status, { until: (s) => s.connectedPeers.length === 1 })
  const samples: Array<{ requests: number; heap_mb: number; tracker: number }> = []
  const sample = (requests: number) =>
    Effect.map(a.status, (s) => samples.push({ requests, heap_mb: heap(), tracker: s.proxiedRequests }))
  yield* sample(0)
  let done = 0
  let disconnected = 0
  let kills = 0
  let nextKill = 20_000 + (yield* Random.nextIntBetween(0, 40_000))
  let nextSample = 100_000
  const t = performance.now()
  const caller = Effect.gen(function* () {
    while (done < total) {
      const r = yield* Effect.result(a.proxy.status(b.id))
      if (Result.isFailure(r)) {
        disconnected++
        // Back off as a client should: `Disconnected` for a peer that is not linked comes back at once, and
        // 256 callers retrying it in a tight loop would starve the event loop the reconnection needs.
        yield* Effect.sleep("1 millis")
        continue
      }
      done++
      if (done >= nextKill) {
        nextKill = done + 20_000 + (yield* Random.nextIntBetween(0, 40_000))
        kills++
        // Kill the link: removing the peer closes it (PeerRemoved); adding it back re-dials.
        yield* a.setPeers([])
        yield* b.setPeers([])
        yield* mesh
      }
      if (done >= nextSample) {
        nextSample += 100_000
        yield* sample(done)
      }
    }
  })
  const fibers = yield* Effect.forEach(Array.from({ length: inFlight }), () =>
    Effect.forkChild(caller, { startImmediately: true })
  )
  yield* Fiber.joinAll(fibers)
  const seconds = (performance.now() - t) / 1000
  yield* Effect.repeat(a.status, { until: (s) => s.proxiedRequests === 0 })
  yield* sample(done)
  return {
    requests: done,
    seconds: Math.round(seconds * 10) / 10,
    per_s: Math.round(done / seconds),
    link_kills: kills,
    disconnected_then_retried: disconnected,
    samples
  }
})

/** A raw peer that completes the handshake with `port` and never answers. */
const silentPeer = (port: number) => {
  const socket = net.connect(port, "127.0.0.1")
  socket.on("error", () => undefined)
  socket.resume()
  const hello = Wire.encode(
    new Wire.Hello({
      id: BaseboardId.make("913-0000019", "9"),
      listenAddress: { host: "127.0.0.1", port: 1 },
      protocolVersion: Wire.protocolVersion
    })
  )
  socket.write(Result.getOrThrow(Frame.encode(hello)))
  return socket
}

const percentile = (xs: Array<number>, p: number) => xs.sort((x, y) => x - y)[Math.floor(xs.length * p)] ?? 0

const timeToDisconnected = Effect.gen(function* () {
  const a = yield* startNode("0")
  const samples: Array<number> = []
  for (let i = 0; i < 40; i++) {
    const peer = silentPeer(a.listenAddress.port)
    yield* Effect.repeat(a.status, { until: (s) => s.connectedPeers.length === 1 })
    const call = yield* Effect.forkChild(Effect.result(a.proxy.status(BaseboardId.make("913-0000019", "9"))), {
      startImmediately: true
    })
    yield* Effect.repeat(a.status, { until: (s) => s.proxiedRequests === 1 })
    const t = performance.now()
    peer.resetAndDestroy()
    yield* Fiber.join(call)
    samples.push(performance.now() - t)
    yield* Effect.repeat(a.status, { until: (s) => s.connectedPeers.length === 0 })
  }
  // Baseline: how long a plain socket takes to notice the same reset.
  const raw: Array<number> = []
  for (let i = 0; i < 40; i++) {
    raw.push(
      yield* Effect.callback<number>((resume) => {
        const server = net.createServer((s) => {
          const t = performance.now()
          s.on("error", () => undefined)
          s.on("close", () => {
            server.close()
            resume(Effect.succeed(performance.now() - t))
          })
          client.resetAndDestroy()
        })
        let client: net.Socket = new net.Socket()
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          client = net.connect(typeof address === "object" && address !== null ? address.port : 0, "127.0.0.1")
          client.on("error", () => undefined)
        })
      })
    )
  }
  const round = (x: number) => Math.round(x * 100) / 100
  return {
    proxied_p50_ms: round(percentile(samples, 0.5)),
    proxied_p99_ms: round(percentile(samples, 0.99)),
    raw_socket_p50_ms: round(percentile(raw, 0.5)),
    target_ms: 25
  }
})

export const run = () =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const disconnect = yield* Effect.scoped(timeToDisconnected)
        const soaked = yield* Effect.scoped(soak)
        return {
          time_to_disconnected: disconnect,
          soak: soaked,
          gc_forced: typeof globalThis.gc === "function",
          machine: { cores: cpus().length, node: process.version }
        }
      })
    )
  )
