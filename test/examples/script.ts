/**
 * Runs a TypeScript script with this Node (type stripping) and returns its exit code and output.
 */
import { spawn } from "node:child_process"
import { Effect } from "effect"

/** Runs a script with this Node (under an open-file limit, `ulimit -n`, if given) and returns its exit code and output. */
export const runScript = (args: ReadonlyArray<string>, options: { readonly descriptorLimit?: number } = {}) =>
  Effect.callback<{ readonly code: number | null; readonly output: string }>((resume) => {
    const command = [process.execPath, "--experimental-strip-types", "--no-warnings", ...args]
    const limit = options.descriptorLimit
    const child =
      limit === undefined
        ? spawn(process.execPath, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
        : spawn("/bin/sh", ["-c", `ulimit -n ${limit} && exec "$@"`, "sh", ...command], {
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
