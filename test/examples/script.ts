/**
 * Runs a program as a child process and returns its exit code and output: any command
 * (`runProcess`), or a TypeScript script with this Node and type stripping (`runScript`).
 */
import { spawn } from "node:child_process"
import { Effect } from "effect"

/** What a finished process printed: stdout and stderr apart, and both as they interleaved. */
export interface ProcessResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly output: string
}

/**
 * Runs `command` with `args` (in `cwd`, default this one) and returns its exit code and output; killed if
 * interrupted. A long-running program is sent SIGINT once its stdout matches `interruptWhen`.
 */
export const runProcess = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly interruptWhen?: RegExp } = {}
) =>
  Effect.callback<ProcessResult>((resume) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd })
    })
    let stdout = ""
    let stderr = ""
    let output = ""
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8")
      output += d.toString("utf8")
      if (options.interruptWhen?.test(stdout) === true) child.kill("SIGINT")
    })
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8")
      output += d.toString("utf8")
    })
    child.on("error", (error) => resume(Effect.succeed({ code: null, stdout, stderr: String(error), output })))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr, output })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/**
 * Runs a script with this Node (type stripping; under an open-file limit, `ulimit -n`, if given) and
 * returns its exit code and output.
 */
export const runScript = (
  args: ReadonlyArray<string>,
  options: { readonly interruptWhen?: RegExp; readonly descriptorLimit?: number } = {}
) => {
  const command = [process.execPath, "--experimental-strip-types", "--no-warnings", ...args]
  const { descriptorLimit, ...rest } = options
  return descriptorLimit === undefined
    ? runProcess(process.execPath, command.slice(1), rest)
    : runProcess("/bin/sh", ["-c", `ulimit -n ${descriptorLimit} && exec "$@"`, "sh", ...command], rest)
}
