/**
 * The sled-bootstrap story, end to end, on one machine: four sleds as separate OS processes over mutual
 * TLS (a throwaway rack CA) with file ledgers, and a control plane in this process that is not on the
 * peer network — it only talks to the sleds' HTTP APIs.
 *
 * 1. initial configuration (epoch 1); 2. unlock check: every sled loads the same secret (shown as a
 * fingerprint, never the secret); 3. a fifth sled boots with only its peer port; 4. the control plane
 * sets a signed network config on the four members, and the fifth sled — read through a member's proxy —
 * receives it by gossip before it is committed; 5. the control plane adds it (epoch 2) and commits it
 * through a member's proxy; 6. once committed, the new sled opens its API; 7. kill -9 a sled and restart
 * it: it unlocks again from its ledger and its peers, and holds the network config from its own ledger;
 * 8. a summary.
 * Ctrl-C (or any failure) kills every child process and removes the temporary directory.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Effect, Option, Schedule, Stream } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { NodeApi } from "../src/api/NodeApi.ts"
import * as ControlPlaneStore from "../src/control/ControlPlaneStore.ts"
import * as MemberClient from "../src/control/MemberClient.ts"
import * as Reconfigurator from "../src/control/Reconfigurator.ts"
import * as ProcessRack from "../src/testing/ProcessRack.ts"
import * as BaseboardId from "../src/types/BaseboardId.ts"
import * as Decision from "../src/types/Decision.ts"

const rackId = "7c3b1f8e-2d4a-4e6b-9f1c-0a5d8e2b4c61"
const sleds = [1, 2, 3, 4, 5].map((n) => BaseboardId.make("913-0000019", `BRM4222000${n}`))
/**
 * Progress output: plain lines; on a terminal also a spinner naming the step in progress, redrawn
 * below the lines as they come (cleared before each line, so the log stays clean when piped).
 */
const tty = process.stdout.isTTY === true
const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
let current = ""
let frame = 0
const clearSpinner = () => {
  if (tty) process.stdout.write("\r\x1b[K")
}
const drawSpinner = () => {
  if (tty && current !== "") process.stdout.write(`${frames[frame++ % frames.length]} ${current}`)
}
const spinner = tty
  ? setInterval(() => {
      clearSpinner()
      drawSpinner()
    }, 100)
  : undefined
spinner?.unref()
const say = (line: string) =>
  Effect.sync(() => {
    clearSpinner()
    console.log(line)
    drawSpinner()
  })
const step = (n: number, title: string) =>
  Effect.andThen(
    say(`\n[${n}/8] ${title}`),
    Effect.sync(() => {
      current = `step ${n}/8: ${title}`
    })
  )

const program = Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "tq-sled-bootstrap-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const started = yield* Clock.currentTimeMillis
  const elapsed = Effect.map(Clock.currentTimeMillis, (now) => `${((now - started) / 1000).toFixed(1)} s`)

  yield* say(`effect-trust-quorum sled bootstrap — 4 sleds, then a 5th through the proxy (workdir ${dir})`)
  yield* say("  K  = the threshold: any K members' shares rebuild the rack secret; K-1 shares reveal nothing")
  yield* say("  Z  = extra prepare acknowledgements the control plane waits for beyond K before committing")
  yield* say(
    "  fingerprint = 8 hex digits of a SHA3-256 hash of a secret: equal fingerprints, equal secrets; reveals nothing"
  )
  const rack = yield* ProcessRack.make({ dir, ids: sleds, apiAfterCommit: (i) => i === 4 })
  const all = rack.sleds
  const clients = new Map<string, MemberClient.MemberClient>()
  const apis = new Map<string, HttpApiClient.ForApi<typeof NodeApi>>()
  const connect = (sled: ProcessRack.Sled) =>
    Effect.gen(function* () {
      const url = yield* rack.api(sled.index)
      clients.set(sled.id.key, yield* MemberClient.fromHttp(url))
      apis.set(
        sled.id.key,
        yield* HttpApiClient.make(NodeApi, { baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer))
      )
      return url
    })
  const fingerprint = (sled: ProcessRack.Sled) =>
    Effect.gen(function* () {
      const api = apis.get(sled.id.key)
      if (api === undefined) return "no API"
      const loaded = yield* api
        .loadLatestRackSecret()
        .pipe(
          Effect.provide(FetchHttpClient.layer),
          Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (s) => s._tag === "Loaded" }),
          Effect.timeout("20 seconds")
        )
      return loaded._tag === "Loaded" ? `epoch ${loaded.epoch} ${loaded.fingerprint}` : "pending"
    })

  const first4 = all.slice(0, 4)
  yield* step(1, "four sleds boot; the control plane commits the initial configuration (epoch 1)")
  yield* Effect.forEach(first4, (s) => rack.start(s.index), { discard: true, concurrency: "unbounded" })
  for (const sled of first4) yield* say(`  ${sled.id} API ${yield* connect(sled)}`)
  const driver = yield* Reconfigurator.make({
    rackId,
    authority: rack.authority,
    store: ControlPlaneStore.file([join(dir, "control-plane.json")]),
    clientOf: (id) => Option.fromNullishOr(clients.get(id.key)),
    options: { pollInterval: "25 millis" }
  })
  yield* Effect.forkScoped(
    Stream.runForEach(driver.events, (e) =>
      e._tag === "MemberCommitted"
        ? say(`  epoch ${e.epoch}: ${e.id} committed (${e.via})`)
        : e._tag === "Proposed"
          ? say(`  epoch ${e.epoch}: proposed to coordinator ${e.coordinator}, K=${e.threshold}`)
          : e._tag === "Prepared"
            ? say(`  epoch ${e.epoch}: ${e.acked.length} prepared (needed ${e.needed} = K+Z)`)
            : e._tag === "Aborted"
              ? say(`  epoch ${e.epoch}: aborted (${e.reason})`)
              : Effect.void
    ),
    { startImmediately: true }
  )
  const epoch1 = yield* driver.reconfigure(first4.map((s) => s.id))

  yield* step(2, "unlock check: every sled loads the latest rack secret (fingerprints only)")
  const unlocked = yield* Effect.forEach(first4, fingerprint)
  for (const [i, f] of unlocked.entries()) yield* say(`  ${first4[i]?.id}: ${f}`)
  if (new Set(unlocked).size !== 1) return yield* Effect.fail(new Error("sleds disagree on the rack secret"))

  const newSled = all[4]
  if (newSled === undefined) return
  yield* step(3, `a fifth sled, ${newSled.id}, boots with only its peer port (no API yet)`)
  yield* rack.start(newSled.index)

  yield* step(4, "the control plane sets a signed network config on the members; the fifth sled gets it by gossip")
  const networkConfig = Decision.networkConfig(rack.authority, {
    rackId,
    generation: 1,
    blob: new TextEncoder().encode(JSON.stringify({ ntp: ["10.0.0.1"], dns: ["10.0.0.2"], uplinks: 2 }))
  })
  const memberApi = (sled: ProcessRack.Sled) => {
    const api = apis.get(sled.id.key)
    return api === undefined ? Effect.die(new Error(`no API client for ${sled.id}`)) : Effect.succeed(api)
  }
  // Each member gets it from the control plane unless gossip brought it first (then the same generation is stale).
  for (const sled of first4) {
    const api = yield* memberApi(sled)
    const stored = yield* api.updateNetworkConfig({ payload: networkConfig }).pipe(
      Effect.as("stored"),
      Effect.catchTag("StaleNetworkConfig", () => Effect.succeed("already had it by gossip")),
      Effect.provide(FetchHttpClient.layer)
    )
    yield* say(`  ${sled.id}: network config generation 1 ${stored}`)
  }
  const via = yield* memberApi(all[1] ?? newSled)
  const gossiped = yield* via.proxyStatus({ payload: { destination: newSled.id } }).pipe(
    Effect.provide(FetchHttpClient.layer),
    // Until the member's link to the new sled is up, its proxy answers Disconnected at once.
    Effect.retry({ schedule: Schedule.spaced("50 millis"), while: (e) => e._tag === "Disconnected" }),
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (s) => s.networkConfig?.generation === 1 }),
    Effect.timeout("20 seconds")
  )
  yield* say(
    `  ${newSled.id} (no API; read through ${all[1]?.id}'s proxy): network config generation ${gossiped.networkConfig?.generation}, digest ${gossiped.networkConfig?.digest}, commits [${gossiped.persistentState.commits.join(", ")}] — before it is committed`
  )

  yield* step(5, "the control plane adds it (epoch 2): its commit goes through a member's proxy")
  const epoch2 = yield* driver.reconfigure(all.map((s) => s.id))

  yield* step(6, "committed, the new sled starts its sled agent: its API opens")
  yield* say(`  ${newSled.id} API ${yield* connect(newSled)}`)
  yield* say(`  ${newSled.id}: ${yield* fingerprint(newSled)}`)

  const victim = all[1]
  if (victim === undefined) return
  yield* step(7, `kill -9 ${victim.id}, restart it: it unlocks again from its ledger and its peers`)
  yield* rack.kill(victim.index)
  clients.delete(victim.id.key)
  apis.delete(victim.id.key)
  yield* rack.start(victim.index)
  yield* connect(victim)
  const again = yield* fingerprint(victim)
  yield* say(`  ${victim.id} after restart: ${again}`)
  const reloaded = yield* (yield* memberApi(victim)).networkConfig().pipe(Effect.provide(FetchHttpClient.layer))
  yield* say(`  ${victim.id} after restart: network config generation ${reloaded.generation} (from its own ledger)`)
  const expected = yield* fingerprint(all[0] ?? victim)
  if (again !== expected) return yield* Effect.fail(new Error("the restarted sled unlocked a different secret"))

  yield* step(8, "summary")
  const rows = [epoch1, epoch2].flatMap((plan) =>
    plan.members.map(
      (m) =>
        `  | ${plan.epoch}     | ${String(m.id).padEnd(23)} | ${(m.via ?? "-").padEnd(6)} | ${String((plan.committedAt ?? 0) - plan.startedAt).padStart(5)} ms |`
    )
  )
  yield* say("  | epoch | sled                    | commit | epoch took |")
  yield* say("  |-------|-------------------------|--------|------------|")
  for (const row of rows) yield* say(row)
  current = ""
  yield* say(
    `  all sleds agree on the secret of epoch 2; ${newSled.id} was committed through the proxy; total ${yield* elapsed}`
  )
})

NodeRuntime.runMain(Effect.scoped(program).pipe(Effect.timeout("120 seconds")))
