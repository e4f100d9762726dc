/**
 * Network faults between two nodes over mutual TLS, each reachable only through a `FaultyRelay`:
 * delay, drop, blackhole, half-open, slow reader and a reset. Proxied `Status` requests pending when a
 * fault strikes end in a status or `Disconnected` within the inactivity bound (a reset much sooner),
 * none is left waiting, and once the fault clears the link comes back and the proxy works again.
 * `TQ_NETWORK_ROUNDS` repeats the whole list (default 1). Prints one figures line.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber } from "effect"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../../src/runtime/TrustQuorumNode.ts"
import * as FaultyRelay from "../../src/testing/FaultyRelay.ts"
import { freePort } from "../../src/testing/ProcessRack.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { authority, eventually, sled } from "../runtime/rack.ts"

const rounds = Number(process.env.TQ_NETWORK_ROUNDS ?? 1)
const inactivityMs = 500
const pingMs = 100
/** A pending request must end within the inactivity timeout, one ping interval and scheduling slack. */
const boundMs = inactivityMs + pingMs + 1000
const callsPerFault = 16

type Case = {
  readonly name: string
  readonly fault: FaultyRelay.RelayFault
  /** Reset every connection once the calls are pending. */
  readonly cut?: true
  /** Issue the calls only once the fault has engaged: a chunk went each way, so both readers are paused. */
  readonly engaged?: true
  readonly outcomes: ReadonlyArray<"Success" | "Disconnected">
}

const cases: ReadonlyArray<Case> = [
  { name: "delay", fault: { _tag: "Delay", millis: 80 }, outcomes: ["Success"] },
  { name: "drop", fault: { _tag: "Drop" }, outcomes: ["Success", "Disconnected"] },
  { name: "blackhole", fault: { _tag: "Blackhole" }, outcomes: ["Disconnected"] },
  { name: "half-open", fault: { _tag: "HalfOpen" }, outcomes: ["Disconnected"] },
  { name: "slow reader", fault: { _tag: "SlowReader", pauseMillis: 1500 }, engaged: true, outcomes: ["Disconnected"] },
  { name: "reset", fault: { _tag: "Blackhole" }, cut: true, outcomes: ["Disconnected"] }
]

describe("network faults", () => {
  it.live(
    "pending proxied requests end within the inactivity bound under every fault, and the link recovers",
    () =>
      Effect.gen(function* () {
        const ca = yield* RackPki.makeRackCa()
        const start = (i: number) =>
          Effect.gen(function* () {
            const port = yield* freePort
            const relay = yield* FaultyRelay.make({ host: "127.0.0.1", port })
            const node = yield* TrustQuorumNode.make({
              id: sled(i),
              listen: { host: "127.0.0.1", port },
              advertise: relay.address,
              transport: Transport.tls(yield* RackPki.issueNodeCertificate(ca, String(sled(i)))),
              authority: authority.publicKey,
              ledger: Ledger.memory<PersistentState>(),
              link: { pingInterval: Duration.millis(pingMs), inactivityTimeout: Duration.millis(inactivityMs) },
              connections: { backoffBase: "20 millis", backoffCap: "300 millis" }
            })
            return { node, relay }
          })
        const a = yield* start(1)
        const b = yield* start(2)
        yield* a.node.setPeers([b.relay.address])
        yield* b.node.setPeers([a.relay.address])
        const relays = [a.relay, b.relay]
        const setFault = (fault: FaultyRelay.RelayFault) => Effect.forEach(relays, (r) => r.setFault(fault))
        const proxyWorks = eventually(Effect.result(a.node.proxy.status(b.node.id)), (r) => r._tag === "Success")

        const figures = {
          faults: 0,
          requests: 0,
          succeeded: 0,
          disconnected: 0,
          maxMillisToDisconnected: 0,
          maxMillisToDisconnectedAfterReset: 0,
          maxRecoveryMillis: 0,
          lost: 0,
          hung: 0
        }
        /** Per fault, how many calls ended in each outcome. */
        const byFault: Record<string, Record<string, number>> = {}
        yield* proxyWorks
        for (let round = 0; round < rounds; round++) {
          for (const c of cases) {
            const forwarded = Effect.map(
              Effect.forEach(relays, (r) => r.stats),
              (all) => all.reduce((n, s) => n + s.forwarded, 0)
            )
            const before = yield* forwarded
            yield* setFault(c.fault)
            // Keep-alive pings flow both ways every interval, so two chunks pass within about one interval.
            if (c.engaged) yield* eventually(forwarded, (n) => n >= before + 2, "5 seconds")
            const calls = yield* Effect.forEach(
              Array.from({ length: callsPerFault }, () => undefined),
              () =>
                Effect.forkChild(
                  Effect.gen(function* () {
                    const outcome = yield* a.node.proxy.status(b.node.id).pipe(
                      Effect.as("Success"),
                      Effect.catch((e) => Effect.succeed(e._tag))
                    )
                    return { outcome, at: yield* Clock.currentTimeMillis }
                  }),
                  { startImmediately: true }
                )
            )
            const struck = yield* Clock.currentTimeMillis
            if (c.cut) yield* Effect.forEach(relays, (r) => r.cut)
            const results = yield* Effect.forEach(calls, (f) =>
              Fiber.join(f).pipe(Effect.timeoutOption(Duration.millis(boundMs)))
            )
            figures.faults++
            for (const r of results) {
              figures.requests++
              if (r._tag === "None") {
                figures.hung++
                continue
              }
              const { outcome, at } = r.value
              if (outcome === "Success") figures.succeeded++
              else if (outcome === "Disconnected") {
                figures.disconnected++
                const key = c.cut ? "maxMillisToDisconnectedAfterReset" : "maxMillisToDisconnected"
                figures[key] = Math.max(figures[key], at - struck)
              }
              const counts = byFault[c.name] ?? {}
              counts[outcome] = (counts[outcome] ?? 0) + 1
              byFault[c.name] = counts
              if (!c.outcomes.some((o) => o === outcome)) figures.lost++
            }
            yield* setFault({ _tag: "Pass" })
            const cleared = yield* Clock.currentTimeMillis
            yield* proxyWorks
            figures.maxRecoveryMillis = Math.max(figures.maxRecoveryMillis, (yield* Clock.currentTimeMillis) - cleared)
          }
        }
        // Checked: every call's outcome and time, and the recovery after every fault.
        const invariantChecks = figures.requests + figures.faults
        console.log(
          JSON.stringify({ suite: "network-faults", rounds, inactivityMs, ...figures, invariantChecks, byFault })
        )
        assert.deepStrictEqual({ lost: figures.lost, hung: figures.hung }, { lost: 0, hung: 0 })
        assert.strictEqual(figures.requests, rounds * cases.length * callsPerFault)
        assert.isAtLeast(figures.disconnected, rounds * 3 * callsPerFault)
        assert.isAtMost(figures.maxMillisToDisconnected, boundMs)
        // A reset is noticed at once, not after the inactivity timeout.
        assert.isBelow(figures.maxMillisToDisconnectedAfterReset, inactivityMs)
        const status = yield* a.node.status
        assert.strictEqual(status.proxiedRequests, 0)
      }),
    60_000 * rounds
  )
})
