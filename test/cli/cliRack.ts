/**
 * Helpers for tests that run `tq` as a process: the runner, and a rack of five nodes over the in-memory
 * transport whose first four serve their API, with the flags that name them and the control plane's key.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import * as Transport from "../../src/runtime/Transport.ts"
import { serveApi } from "../api/serve.ts"
import { runScript } from "../examples/script.ts"
import { authority, connected, mesh, startNode } from "../runtime/rack.ts"
import { tempDir } from "../runtime/tempDir.ts"

/** Runs `tq` with `args` (30 s at most). */
export const tq = (...args: ReadonlyArray<string>) =>
  runScript(["src/cli/tq.ts", ...args]).pipe(Effect.timeout("30 seconds"))

/**
 * Five nodes over the in-memory transport; the first four serve their API. `memberFlags` names them
 * (`--member id=URL`); `members` adds the control plane's authority key (written to a file).
 */
export const apiRack = Effect.gen(function* () {
  const network = Transport.makeMemoryNetwork()
  const nodes = yield* Effect.forEach([0, 1, 2, 3, 4], (i) => startNode(i, () => network.transport))
  yield* mesh(nodes)
  yield* connected(nodes, 4)
  const urls = yield* Effect.forEach(nodes.slice(0, 4), (n) =>
    Effect.map(serveApi(n.node), (url) => `${n.node.id}=${url}`)
  )
  const keys = yield* tempDir("authority")
  writeFileSync(join(keys, "authority.key"), authority.toPem(), { mode: 0o600 })
  const memberFlags = urls.flatMap((u) => ["--member", u])
  return { nodes, memberFlags, members: ["--authority-key", join(keys, "authority.key"), ...memberFlags] }
})
