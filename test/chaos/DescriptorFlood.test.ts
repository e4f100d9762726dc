/**
 * A flood of silent connections against a node process that runs with few descriptors (`ulimit -n
 * 256`): hundreds of connections at once that never start a TLS handshake, reopened as soon as the node
 * closes them. Meanwhile the node must keep its established links, answer its API, and write its ledger
 * (a reconfiguration and commits go through). Prints a figures line: connections, descriptors, memory,
 * API latency before, during and after, and the log lines the flood cost.
 */
import { readdirSync, readFileSync } from "node:fs"
import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Schema } from "effect"
import * as ProcessRack from "../../src/testing/ProcessRack.ts"
import * as Decision from "../../src/types/Decision.ts"
import { CommitRequest, ReconfigureMsg } from "../../src/types/Request.ts"
import { CoordinatorStatus } from "../../src/types/Status.ts"
import { call } from "../api/http.ts"
import { eventually, rackId, sled } from "../runtime/rack.ts"
import { tempDir } from "../runtime/tempDir.ts"

const concurrent = Number(process.env.TQ_FLOOD_CONNECTIONS ?? 600)
const descriptorLimit = 256
/** Configured above a quarter of the descriptor limit: the node lowers it to 64, keeping the rest reserved. */
const maxUnauthenticated = 100

/** Silent connections to `port`, each reopened when the node closes it, until `stop`. */
const flood = (port: number, width: number) => {
  let opened = 0
  let stopped = false
  const sockets = new Set<net.Socket>()
  const open = () => {
    if (stopped) return
    opened++
    const socket = net.connect(port, "127.0.0.1")
    sockets.add(socket)
    socket.on("error", () => undefined)
    socket.on("close", () => {
      sockets.delete(socket)
      // A fresh turn, so a node that refuses at once is not hammered in a tight loop.
      setImmediate(open)
    })
  }
  for (let i = 0; i < width; i++) open()
  return {
    opened: () => opened,
    stop: () => {
      stopped = true
      for (const socket of sockets) socket.destroy()
    }
  }
}

/** An API call (GET, or POST of `body`) and how long it took. */
const json = (url: string, body?: string) =>
  Effect.timed(call(url, body)).pipe(Effect.map(([elapsed, answer]) => ({ ...answer, ms: Duration.toMillis(elapsed) })))

/** The median and the worst of `n` status reads, in ms. */
const latency = (url: string, n: number) =>
  Effect.gen(function* () {
    const samples: Array<number> = []
    for (let i = 0; i < n; i++) {
      const answer = yield* json(`${url}/status`)
      assert.strictEqual(answer.status, 200)
      samples.push(answer.ms)
    }
    samples.sort((a, b) => a - b)
    return { p50: Math.round(samples[Math.floor(n / 2)] ?? 0), max: Math.round(samples.at(-1) ?? 0) }
  })

const residentMiB = (pid: number) =>
  Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024)
const descriptors = (pid: number) => readdirSync(`/proc/${pid}/fd`).length

/** The current link of each peer, by peer. */
const links = (url: string) =>
  Effect.map(json(`${url}/connections`), (answer) => {
    const list: ReadonlyArray<{ connectionId: number; peer: { serialNumber: string }; current: boolean }> = JSON.parse(
      answer.body
    )
    return list
      .filter((l) => l.current)
      .map((l) => `${l.peer.serialNumber}#${l.connectionId}`)
      .sort()
  })

describe("descriptor flood", () => {
  it.live(
    `${concurrent} silent connections at once against a node limited to ${descriptorLimit} descriptors: links, API and ledger keep working`,
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("flood")
        const rack = yield* ProcessRack.make({
          dir,
          ids: [sled(0), sled(1), sled(2)],
          descriptorLimit,
          handshake: { maxUnauthenticated, timeoutMs: 1000 }
        })
        yield* Effect.forEach([0, 1, 2], rack.start, { discard: true })
        const urls = yield* Effect.forEach([0, 1, 2], (i) => rack.api(i))
        const [url = ""] = urls
        const pid = Option.getOrThrow(rack.pid(0))
        const peerPort = Number(JSON.parse(readFileSync(rack.sleds[0]?.configPath ?? "", "utf8")).peer.port)
        const before = yield* eventually(links(url), (l) => l.length === 2)
        const quiet = { rss: residentMiB(pid), fds: descriptors(pid), api: yield* latency(url, 20) }

        const attack = flood(peerPort, concurrent)
        const during = yield* Effect.gen(function* () {
          // Ledger writes under the flood: the coordinator persists its prepare, every member its commit.
          const msg = Decision.reconfigureMsg(rack.authority, {
            rackId,
            epoch: 1,
            lastCommittedEpoch: null,
            members: [sled(0), sled(1), sled(2)],
            threshold: 2,
            coordinator: sled(0)
          })
          const body = JSON.stringify(Schema.encodeSync(Schema.toCodecJson(ReconfigureMsg))(msg))
          const reconfigure = yield* json(`${url}/reconfigure`, body)
          assert.strictEqual(reconfigure.status, 204, reconfigure.body)
          const prepared = yield* eventually(
            json(`${url}/coordinator-status`),
            (s) => s.status === 200 && JSON.parse(s.body).ackedPrepares.length === 3,
            "20 seconds"
          )
          const { config } = Schema.decodeUnknownSync(Schema.toCodecJson(CoordinatorStatus))(JSON.parse(prepared.body))
          const commitBody = JSON.stringify(
            Schema.encodeSync(Schema.toCodecJson(CommitRequest))(
              new CommitRequest({ rackId, epoch: 1, proof: Decision.signCommit(rack.authority, config) })
            )
          )
          for (const member of urls) {
            const commit = yield* json(`${member}/commit`, commitBody)
            assert.strictEqual(commit.body, '"Committed"')
          }
          const api = yield* latency(url, 20)
          return { rss: residentMiB(pid), fds: descriptors(pid), api, links: yield* links(url) }
        }).pipe(Effect.ensuring(Effect.sync(attack.stop)))

        const after = { api: yield* latency(url, 20), rss: residentMiB(pid), links: yield* links(url) }
        const log = readFileSync(rack.sleds[0]?.logPath ?? "", "utf8").split("\n")
        const logLines = log.filter((l) => l.includes("refused"))
        console.log(
          JSON.stringify({
            suite: "descriptor-flood",
            descriptorLimit,
            maxUnauthenticated,
            concurrent,
            connectionsOpened: attack.opened(),
            descriptors: { quiet: quiet.fds, during: during.fds },
            rssMiB: { quiet: quiet.rss, during: during.rss, after: after.rss },
            apiMs: { quiet: quiet.api, during: during.api, after: after.api },
            refusalLogLines: logLines.length
          })
        )
        // The established links were never replaced, and the node stayed well inside its descriptors.
        assert.deepStrictEqual(during.links, before)
        assert.deepStrictEqual(after.links, before)
        assert.isAtMost(during.fds, descriptorLimit - 64)
        assert.isAbove(attack.opened(), concurrent)
        assert.deepStrictEqual(rack.unexpectedExits(), [])
        assert.isTrue(
          log.some((l) => l.includes("maxUnauthenticated 100 lowered to 64: the process may open 256 files")),
          "the pre-authentication bound was not lowered to a quarter of the descriptor limit"
        )
      }),
    60_000
  )
})
