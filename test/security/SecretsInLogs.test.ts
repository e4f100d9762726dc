/**
 * Secrets never reach the logs: a rack runs a whole story at the most verbose log level — initial
 * configuration, unlocks, a proxied commit, a refused impostor, a restart — while every log line is
 * captured; then every rack secret and every key share, in hex and base64, is searched for in them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Option, References } from "effect"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import { printableForms } from "../../src/testing/LedgerAudit.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { connected, eventually, mesh, proofOf, rackId, reconfigureMsg, restartable, sled } from "../runtime/rack.ts"

describe("secrets in logs", () => {
  it.live("no rack secret or key share appears in any log line of a full story", () => {
    const lines: Array<string> = []
    const capture = Logger.make((options) => {
      lines.push(String(Logger.formatSimple.log(options)))
    })
    return Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const ledgers = [0, 1, 2, 3].map(() => Ledger.memory<PersistentState>())
      const nodes = yield* Effect.forEach([0, 1, 2, 3], (i) =>
        Effect.flatMap(RackPki.issueNodeCertificate(ca, String(sled(i))), (creds) =>
          restartable(i, Transport.tls(creds), ledgers[i] ?? Ledger.memory<PersistentState>())
        )
      )
      // An impostor: sled 5 holding sled 6's certificate is refused (and logged) by everyone.
      const impostor = yield* Effect.flatMap(RackPki.issueNodeCertificate(ca, String(sled(6))), (creds) =>
        restartable(5, Transport.tls(creds), Ledger.memory<PersistentState>())
      )
      const [a, b, c, d] = nodes
      if (!a || !b || !c || !d) throw new Error("nodes")
      yield* mesh([...nodes, impostor])
      yield* connected(nodes, 3)
      yield* a.node.reconfigure(reconfigureMsg(1, [0, 1, 2, 3], 3, null, a.node.id))
      const status = yield* eventually(
        a.node.coordinatorStatus,
        (s) => Option.isSome(s) && s.value.ackedPrepares.length === 4
      )
      const proof = proofOf(Option.getOrThrow(status).config)
      for (const n of [a, b, c]) yield* n.node.commit(rackId, 1, proof)
      yield* a.node.proxy.commit(d.node.id, rackId, 1, proof)
      yield* d.stop
      yield* d.start
      yield* mesh(nodes)
      yield* connected(nodes, 3)

      const secrets: Array<string> = []
      for (const n of nodes) {
        const loaded = yield* eventually(n.node.loadLatestRackSecret, Option.isSome)
        if (Option.isSome(loaded)) loaded.value.secret.use((bytes) => secrets.push(...printableForms(bytes)))
      }
      for (const ledger of ledgers) {
        const state = ledger.current()
        if (Option.isSome(state))
          for (const share of state.value.shares.values()) secrets.push(...printableForms(share.y))
      }
      assert.isAtLeast(secrets.length, 4 * 3 * 2)
      assert.isAbove(lines.length, 5)
      // The scan can see what is logged: public facts such as the impostor's refusal are there.
      assert.isTrue(lines.some((l) => l.includes("IdentityMismatch")))
      const leaks = secrets.filter((s) => lines.some((l) => l.includes(s)))
      assert.deepStrictEqual(leaks, [])
    }).pipe(Effect.provide(Layer.mergeAll(Logger.layer([capture]), Layer.succeed(References.MinimumLogLevel, "All"))))
  })
})
