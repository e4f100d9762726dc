/**
 * Runs a TypeScript script with this Node (type stripping) and returns its exit code and output.
 */
import { spawn } from "node:child_process"
import { Effect } from "effect"

/** Runs a script with this Node and returns its exit code and output. */
export const runScript = (args: ReadonlyArray<string>) =>
  Effect.callback<{ readonly code: number | null; readonly output: string }>((resume) => {
    const child = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", ...args], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString("utf8")
    })
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString("utf8")
    })
    child.on("close", (code) => resume(Effect.succeed({ code, output })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })
