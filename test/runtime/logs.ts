/**
 * Captures log lines for tests that assert what a node logs: every line at or above `level`, as
 * `LEVEL message…`, and a way to wait for the first line matching a pattern.
 */
import { Deferred, Effect, Exit, Logger, type LogLevel } from "effect"

const order: ReadonlyArray<LogLevel.LogLevel> = ["All", "Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"]

export const captureLogs = (level: LogLevel.LogLevel = "Warn") => {
  const lines: Array<string> = []
  const waiting: Array<{ readonly pattern: RegExp; readonly found: Deferred.Deferred<string> }> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
    if (order.indexOf(logLevel) < order.indexOf(level)) return
    const line = `${logLevel.toUpperCase()} ${(Array.isArray(message) ? message : [message]).map(String).join(" ")}`
    lines.push(line)
    for (const w of waiting) if (w.pattern.test(line)) Deferred.doneUnsafe(w.found, Exit.succeed(line))
  })
  /** The first line matching `pattern`, logged before or after the call (at most `within`). */
  const line = (pattern: RegExp, within = "5 seconds" as const) =>
    Effect.suspend(() => {
      const seen = lines.find((l) => pattern.test(l))
      if (seen !== undefined) return Effect.succeed(seen)
      const found = Deferred.makeUnsafe<string>()
      waiting.push({ pattern, found })
      return Deferred.await(found)
    }).pipe(Effect.timeout(within))
  return { lines, line, layer: Logger.layer([logger]) }
}
