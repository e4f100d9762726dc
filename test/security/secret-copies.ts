/**
 * A child process for `SecretCopies.test.ts`: commits a three-node rack (memory transport), unlocks the
 * secret through the HTTP API `UNLOCKS` times, then scans its own memory (`/proc/self/mem`, every
 * readable and writable mapping) for the secret's bytes and prints how many copies it found as JSON.
 * A V8 heap snapshot would not do: it omits the contents of typed arrays, where the secret lives.
 */
import { closeSync, openSync, readFileSync, readSync } from "node:fs"
import { Effect, Option, References } from "effect"
import * as Transport from "../../src/runtime/Transport.ts"
import { serveApi } from "../api/serve.ts"
import { connected, eventually, mesh, proofOf, rackId, reconfigureMsg, startNode } from "../runtime/rack.ts"

const unlocks = Number(process.env.UNLOCKS ?? "200")

/** Occurrences of `needle` in this process's readable, writable memory. */
const countInMemory = (needle: Uint8Array): number => {
  const fd = openSync("/proc/self/mem", "r")
  const chunk = Buffer.alloc(1 << 20)
  let count = 0
  try {
    for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
      const [range = "", perms = ""] = line.split(" ")
      if (!perms.startsWith("rw")) continue
      const [from = 0, to = 0] = range.split("-").map((h) => Number.parseInt(h, 16))
      // Overlapping reads so that a copy across a chunk boundary is still seen once.
      for (let at = from; at < to; at += chunk.length - needle.length) {
        const length = Math.min(chunk.length, to - at)
        let read = 0
        try {
          read = readSync(fd, chunk, 0, length, at)
        } catch {
          break
        }
        const view = chunk.subarray(0, read)
        for (let i = view.indexOf(needle); i >= 0; i = view.indexOf(needle, i + 1)) {
          if (i + needle.length <= read && (at === from || i >= needle.length - 1)) count++
        }
        if (read < length) break
      }
    }
  } finally {
    closeSync(fd)
  }
  return count
}

const main = Effect.gen(function* () {
  const network = Transport.makeMemoryNetwork()
  const nodes = yield* Effect.forEach([0, 1, 2], (i) => startNode(i, () => network.transport))
  yield* mesh(nodes)
  yield* connected(nodes, 2)
  const [first] = nodes
  if (first === undefined) return yield* Effect.die("no node")
  yield* first.node.reconfigure(reconfigureMsg(1, [0, 1, 2], 2, null, first.node.id))
  const status = yield* eventually(
    first.node.coordinatorStatus,
    (s) => Option.isSome(s) && s.value.ackedPrepares.length === 3
  )
  if (Option.isNone(status)) return yield* Effect.die("not coordinating")
  for (const n of nodes) yield* n.node.commit(rackId, 1, proofOf(status.value.config))
  const url = yield* serveApi(first.node)
  const unlock = Effect.promise(async () => {
    const answer = await fetch(`${url}/rack-secret/load-latest`, { method: "POST" })
    const body = await answer.text()
    return /"_tag":"(\w+)"/.exec(body)?.[1]
  })
  // The first unlock collects shares from the peers: poll until it is loaded, then count every unlock.
  yield* eventually(unlock, (tag) => tag === "Loaded")
  for (let i = 0; i < unlocks; i++) {
    const tag = yield* unlock
    if (tag !== "Loaded") return yield* Effect.die(`unlock ${i}: ${tag}`)
  }
  // The needle is the one copy made here on purpose; it is counted and subtracted.
  const loaded = yield* first.node.loadRackSecret(1)
  if (Option.isNone(loaded)) return yield* Effect.die("not loaded")
  const needle = loaded.value.use((bytes) => Buffer.from(bytes))
  loaded.value.dispose()
  globalThis.gc?.()
  const copies = countInMemory(needle) - 1
  process.stdout.write(`${JSON.stringify({ unlocks, copies })}\n`)
})

Effect.runPromise(Effect.scoped(main).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${String(e)}\n`)
    process.exit(1)
  }
)
