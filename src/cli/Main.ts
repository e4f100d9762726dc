/**
 * The shared entry of every command-line program of this project (`tq`, and the `sim`, `chaos` and
 * `bench` scripts; `npm run replay` is `tq replay`): one CLI library, so every program has `--help`, refuses unknown flags,
 * takes `--log-level` (any case) and `--log-format json|pretty`, logs to stderr only (stdout is for
 * results), and reports every failure — a typed error or a defect — as one `Tag: message` line on
 * stderr with a non-zero exit code.
 */

import { readFileSync } from "node:fs"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Console, Effect, Layer, Logger, type LogLevel, Option, Schema } from "effect"
import { CliError, Command, Flag, GlobalFlag } from "effect/cli"

/** A file named on the command line that cannot be read or does not parse. */
export class UnreadableFile extends Schema.TaggedError<UnreadableFile>()("UnreadableFile", {
  path: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.issue}`
  }
}

/** The text of a file named on the command line. */
export const readText = (path: string) =>
  Effect.try({
    try: () => readFileSync(path, "utf8"),
    catch: (e) => new UnreadableFile({ path, issue: e instanceof Error ? e.message : String(e) })
  })

/** `--name N`: a non-negative integer flag with a default (counts and seeds of the long-run scripts). */
export const countFlag = (name: string, fallback: number, description: string) =>
  Flag.Int(name).pipe(
    Flag.filter(
      (n) => n >= 0,
      (n) => `--${name} takes a non-negative integer, not ${n}`
    ),
    Flag.withDefault(fallback),
    Flag.withDescription(`${description} (default ${fallback})`)
  )

/** `--log-format`: `pretty` writes one `key=value` line per entry, `json` one JSON object per line. */
export const LogFormat = GlobalFlag.Setting("log-format")({
  flag: Flag.Literals("log-format", ["pretty", "json"]).pipe(
    Flag.withDefault("pretty"),
    Flag.withMetavar("pretty|json"),
    Flag.withDescription("how log lines are written to stderr: pretty (key=value) or json (one object per line)")
  )
})

/** The loggers for a `--log-format`: both write to stderr, one line per entry. */
export const loggerLayer = (format: "pretty" | "json") =>
  Logger.layer([Logger.withConsoleError(format === "json" ? Logger.formatJson : Logger.formatLogFmt)])

/**
 * The minimum log level: `--log-level` when given (it wins over any configuration file), else `fallback`.
 */
export const logLevelOr = (fallback: LogLevel.LogLevel) =>
  Effect.map(
    GlobalFlag.LogLevel,
    Option.getOrElse(() => fallback)
  )

const tagOf = (error: object): string =>
  "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
      ? error.name
      : error.constructor.name

/**
 * One line for a failure: `Tag: message`. An error whose own message is empty (a platform error such as
 * `ServeError`) is explained by its cause, which follows after `: `.
 */
export const describe = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return `Defect: ${String(error)}`
  const message = "message" in error && typeof error.message === "string" ? error.message : ""
  const cause = "cause" in error && error.cause !== undefined ? describe(error.cause) : ""
  return `${tagOf(error)}: ${message === "" ? cause : message}`
}

/** The lines to print for a failed run: errors the CLI library rendered itself (help, usage) are not repeated. */
export const failureLines = (cause: Cause.Cause<unknown>): ReadonlyArray<string> =>
  cause.reasons.flatMap((reason) =>
    Cause.isFailReason(reason)
      ? CliError.isCliError(reason.error)
        ? []
        : [describe(reason.error)]
      : Cause.isDieReason(reason)
        ? [describe(reason.defect)]
        : []
  )

/**
 * The arguments with the value of `--log-level` in lower case: the CLI library's built-in flag knows
 * only lower-case names, while configuration files and Effect spell them `Info`, `Warn`, ….
 */
export const normalizeArgs = (args: ReadonlyArray<string>): ReadonlyArray<string> =>
  args.map((arg, i) =>
    args[i - 1] === "--log-level"
      ? arg.toLowerCase()
      : arg.startsWith("--log-level=")
        ? `--log-level=${arg.slice("--log-level=".length).toLowerCase()}`
        : arg
  )

/** Runs `command` as this process's main program: logs per the global flags, failures reported, exit code set. */
export const run = <Name extends string, Input, E>(
  command: Command.Command<Name, Input, {}, E, NodeServices.NodeServices | GlobalFlag.Setting.Identifier<"log-format">>,
  version: string
) =>
  NodeRuntime.runMain(
    Command.runWith(
      command.pipe(
        Command.provide(Layer.unwrap(Effect.map(LogFormat, loggerLayer))),
        Command.withGlobalFlags([LogFormat])
      ),
      { version }
    )(normalizeArgs(process.argv.slice(2))).pipe(
      Effect.tapCause((cause) => Effect.forEach(failureLines(cause), (line) => Console.error(line))),
      Effect.provide(NodeServices.layer)
    ),
    { disableErrorReporting: true }
  )
