/**
 * The short profile of the replica campaign (`npm run chaos:control-plane` runs a long one): three
 * `tq control-plane` processes over one throwaway PostgreSQL drive a rack of node processes over mutual
 * TLS; requests go to random replicas two at a time, the replica that accepted a request is killed at once
 * every other time, and PostgreSQL crashes and restarts once. Prints its figures line.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ReplicaCampaign from "../../src/testing/ReplicaCampaign.ts"

const requests = Number(process.env.TQ_REPLICA_REQUESTS ?? 4)
const seed = Number(process.env.TQ_REPLICA_SEED ?? 21)
const verbose = process.env.TQ_REPLICA_VERBOSE === "1"

describe("control-plane replicas", () => {
  it.live(
    "three replicas over one PostgreSQL complete every accepted request exactly once under kill -9 and a database crash",
    () =>
      Effect.gen(function* () {
        const figures = yield* ReplicaCampaign.run({
          seed,
          requests,
          log: (line) => (verbose ? Effect.sync(() => console.log(line)) : Effect.void)
        })
        console.log(ReplicaCampaign.figuresLine(figures, { seed }))
        const refused = Object.values(figures.refused).reduce((a, b) => a + b, 0)
        assert.strictEqual(figures.requests, requests)
        assert.strictEqual(figures.accepted + refused + figures.unanswered, requests)
        assert.isAtLeast(figures.accepted, 1)
        assert.strictEqual(figures.replicaKills, Math.ceil(figures.accepted / 2))
        assert.strictEqual(
          figures.takeOverMillis.length + figures.takeOverDuringOutageMillis.length,
          figures.replicaKills
        )
        assert.strictEqual(figures.postgresRestarts, 1)
        assert.isAbove(figures.invariantChecks, 0)
        assert.isAtLeast(figures.unlocks, 3)
        assert.deepStrictEqual({ lost: figures.lost, hung: figures.hung }, { lost: 0, hung: 0 })
      }),
    90_000 + requests * 10_000
  )
})
