/**
 * Bad input against live nodes: random and mutated frames on a real TCP link, and random JSON bodies on
 * the HTTP API. Every bad frame closes only its own link, with a typed reason the node logs, and the
 * node keeps serving with no state left behind; every bad body is answered with a 4xx (or the
 * operation's typed error), never a 500. Each suite prints one figures line.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, References, Result } from "effect"
import * as fc from "fast-check"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { serveLoneNode } from "../api/serve.ts"
import { connected, mesh, restartable, sled } from "../runtime/rack.ts"
import { sendUntilClosed } from "../runtime/rawPeer.ts"
import { badInput } from "./inputs.ts"

const cases = Number(process.env.TQ_FUZZ_CASES ?? 25)

/** The typed reason in a log line about a closed link or a refused handshake. */
const closeReason = (line: string): string | undefined => {
  const refused = /handshake refused \((\w+)\)/.exec(line)?.[1]
  // The frame layer reads ahead: an oversize length right after the Hello fails the handshake's transport.
  if (refused !== undefined)
    return refused === "Transport" && line.includes("over the limit") ? "FrameTooLarge" : refused
  return line.includes("link closed")
    ? /\b(Eof|Reset|DecodeError|FrameTooLarge|Inactivity|WriteQueueFull|WriteFailed|Defect)\b/.exec(line)?.[1]
    : undefined
}

describe("bad frames on a live node", () => {
  it.live(
    `${cases} hostile peers: each is closed with a typed reason, the good link stays, the node keeps serving`,
    () => {
      const lines: Array<string> = []
      const capture = Logger.make((options) => {
        lines.push(String(Logger.formatSimple.log(options)))
      })
      return Effect.gen(function* () {
        // Short timeouts, so a truncated frame or a missing Hello is closed in about a second, not ten.
        const timing = {
          link: { pingInterval: "200 millis", inactivityTimeout: "1 second" },
          // Every refusal logged in full: the test accounts for each hostile connection.
          connections: { handshakeTimeout: "1 second", refusalLogBurst: cases }
        } as const
        const nodes = yield* Effect.forEach([0, 1], (i) =>
          restartable(i, Transport.insecureTcp, Ledger.memory<PersistentState>(), timing)
        )
        yield* mesh(nodes)
        yield* connected(nodes, 1)
        const target = nodes[0]
        if (!target) throw new Error("nodes")
        const inputs = fc.sample(badInput, { seed: 17, numRuns: cases })
        const labels = new Set<string>()
        for (const [index, input] of inputs.entries()) {
          const outcome = yield* Effect.result(sendUntilClosed(target.node.listenAddress.port, input.bytes))
          assert.isTrue(Result.isSuccess(outcome), `#${index} ${input.label} was not closed by the node`)
          labels.add(input.label)
        }
        assert.isAtLeast(labels.size, 4)
        const status = yield* target.node.status
        assert.deepStrictEqual(status.connectedPeers.map(String), [String(sled(1))])
        // Nothing of the hostile peers is left: one link (the good one), no proxied request in flight.
        const links = yield* target.node.connections
        assert.deepStrictEqual(
          links.map((l) => String(l.peer)),
          [String(sled(1))]
        )
        assert.strictEqual(status.proxiedRequests, 0)
        const reasons: Record<string, number> = {}
        for (const line of lines) {
          const reason = closeReason(line)
          if (reason !== undefined) reasons[reason] = (reasons[reason] ?? 0) + 1
        }
        const closed = Object.values(reasons).reduce((a, b) => a + b, 0)
        console.log(
          JSON.stringify({
            suite: "bad-frames",
            faults: cases,
            requests: cases,
            // One per hostile connection (closed), then: every reason logged, the good link, no leftover link or request.
            invariantChecks: cases + 4,
            inputs: [...labels].sort(),
            closed,
            reasons,
            lost: 0,
            hung: 0
          })
        )
        // Every hostile connection was closed for a reason the node logged, and nothing else was.
        assert.strictEqual(closed, cases)
      }).pipe(
        Effect.provide(Layer.mergeAll(Logger.layer([capture]), Layer.succeed(References.MinimumLogLevel, "Debug")))
      )
    },
    30_000 + cases * 1_000
  )
})

describe("bad bodies on the HTTP API", () => {
  it.live(`${cases * 4} random JSON bodies: 4xx or a typed error, never a 500`, () =>
    Effect.gen(function* () {
      const url = yield* serveLoneNode()
      const paths = [
        "/reconfigure",
        "/commit",
        "/prepare-and-commit",
        "/proxy/commit",
        "/proxy/prepare-and-commit",
        "/proxy/status"
      ]
      const bodies = fc.sample(
        fc.oneof(
          fc.json(),
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify({ rackId: v, epoch: v, config: v, destination: v }))
        ),
        { seed: 23, numRuns: cases * 4 }
      )
      const statuses = new Map<number, number>()
      for (const [i, body] of bodies.entries()) {
        const path = paths[i % paths.length] ?? "/commit"
        const status = yield* Effect.promise(() =>
          fetch(`${url}${path}`, { method: "POST", body, headers: { "content-type": "application/json" } }).then(
            (r) => r.status
          )
        )
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        assert.isBelow(status, 500, `${path} answered ${status} to ${body.slice(0, 80)}`)
      }
      console.log(
        JSON.stringify({
          suite: "bad-bodies",
          faults: bodies.length,
          requests: bodies.length,
          invariantChecks: bodies.length + 1,
          statuses: Object.fromEntries(statuses),
          lost: 0,
          hung: 0
        })
      )
      assert.isTrue((statuses.get(400) ?? 0) > 0)
    })
  )
})
