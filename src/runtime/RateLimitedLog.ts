/**
 * A warning log that a flood cannot fill, for refusals of input a remote party controls the rate of
 * (refused handshakes, forged or unauthorized peer messages): at most `perInterval` lines per interval
 * are written, the rest are counted by reason and reported in one summary line when the interval ends.
 * `warn` logs from an effect (in the caller's fiber, with its annotations); `record` does the same from a
 * callback outside Effect (a transport's socket events) and never blocks.
 */
import { Duration, Effect, Queue, type Scope } from "effect"

/** A rate-limited warning log. */
export interface RateLimitedLog {
  /** Logs `message` (with `annotations`) unless the interval's budget is spent; `reason` groups the summary. */
  readonly warn: (
    reason: string,
    message: string,
    annotations?: Readonly<Record<string, unknown>>
  ) => Effect.Effect<void>
  /** `warn` for callbacks outside Effect: the line is written by the log's own fiber. */
  readonly record: (reason: string, message: string, annotations?: Readonly<Record<string, unknown>>) => void
}

export interface RateLimitedLogOptions {
  /** Lines written in full per interval (default 10). */
  readonly perInterval?: number
  /** The interval (default 1 s). */
  readonly interval?: Duration.Input
  /** What is refused, for the summary line (default "refusals"). */
  readonly subject?: string
}

interface Line {
  readonly reason: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** Starts a rate-limited log in the current scope; its summary and writer fibers end with the scope. */
export const make = (options?: RateLimitedLogOptions): Effect.Effect<RateLimitedLog, never, Scope.Scope> =>
  Effect.gen(function* () {
    const perInterval = options?.perInterval ?? 10
    const interval = Duration.fromInputUnsafe(options?.interval ?? Duration.seconds(1))
    const subject = options?.subject ?? "refusals"
    // `record` offers at most `perInterval` lines per interval, so this queue stays small.
    const lines = yield* Queue.unbounded<Line>()
    let written = 0
    let suppressed = new Map<string, number>()

    /** Whether the interval's budget allows one more line; if not, the event is counted. */
    const admit = (reason: string): boolean => {
      if (written < perInterval) {
        written++
        return true
      }
      suppressed.set(reason, (suppressed.get(reason) ?? 0) + 1)
      return false
    }

    const summary = Effect.suspend(() => {
      const counts = suppressed
      suppressed = new Map()
      written = 0
      if (counts.size === 0) return Effect.void
      const total = Array.from(counts.values()).reduce((a, b) => a + b, 0)
      const reasons = Array.from(counts, ([reason, n]) => `${reason} ×${n}`).join(", ")
      return Effect.logWarning(
        `${total} more ${subject} in the last ${Duration.format(interval)} were not logged one by one: ${reasons}`
      ).pipe(Effect.annotateLogs({ suppressed: Object.fromEntries(counts) }))
    })
    const line = (reason: string, message: string, annotations: Readonly<Record<string, unknown>>) =>
      Effect.logWarning(message).pipe(Effect.annotateLogs({ ...annotations, reason }))

    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(interval), summary)))
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.take(lines), (l) => line(l.reason, l.message, l.annotations)))
    )
    return {
      warn: (reason, message, annotations = {}) =>
        Effect.suspend(() => (admit(reason) ? line(reason, message, annotations) : Effect.void)),
      record: (reason, message, annotations = {}) => {
        if (admit(reason)) Queue.offerUnsafe(lines, { reason, message, annotations })
      }
    }
  })
