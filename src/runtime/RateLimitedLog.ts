/**
 * A rate-limited log for events a remote party can cause at will (refused handshakes, refused peer
 * messages): the first `burst` events of each interval are logged in full, the rest are only counted
 * by reason and reported in one summary line when the interval ends. So a flood costs the log at most
 * `burst + 1` lines per interval, and nothing is lost from the counts. Recording is synchronous, so
 * transport callbacks outside Effect can use it too.
 */
import { Duration, Effect, Queue, type Scope } from "effect"

/** The handle of one rate-limited log. */
export interface RateLimitedLog {
  /**
   * Records one event: logged as a warning (`message`, annotated with `annotations`) while the interval's
   * allowance lasts, else counted under `reason` for the summary. Never blocks.
   */
  readonly record: (reason: string, message: string, annotations?: Readonly<Record<string, string>>) => void
}

export interface RateLimitedLogOptions {
  /** What is counted, for the summary line, e.g. "peer connections refused". */
  readonly subject: string
  /** Events logged in full per interval (default 5). */
  readonly burst?: number
  /** The summary interval (default 10 s). */
  readonly interval?: Duration.Input
}

interface Line {
  readonly message: string
  readonly annotations: Readonly<Record<string, string>>
}

/** Starts a rate-limited log in the current scope; its fibers end with the scope. */
export const make = (options: RateLimitedLogOptions): Effect.Effect<RateLimitedLog, never, Scope.Scope> =>
  Effect.gen(function* () {
    const burst = options.burst ?? 5
    const interval = Duration.fromInputUnsafe(options.interval ?? Duration.seconds(10))
    // At most `burst` lines are offered per interval, so this queue stays small.
    const lines = yield* Queue.unbounded<Line>()
    let logged = 0
    let suppressed = new Map<string, number>()
    const summary = Effect.suspend(() => {
      const counts = suppressed
      suppressed = new Map()
      logged = 0
      if (counts.size === 0) return Effect.void
      const total = Array.from(counts.values()).reduce((a, b) => a + b, 0)
      const reasons = Array.from(counts, ([reason, n]) => `${reason} ×${n}`).join(", ")
      return Effect.logWarning(
        `${total} more ${options.subject} in the last ${Duration.format(interval)}, not logged one by one: ${reasons}`
      )
    })
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(interval), summary)))
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(Queue.take(lines), (line) =>
          Effect.logWarning(line.message).pipe(Effect.annotateLogs(line.annotations))
        )
      )
    )
    return {
      record: (reason, message, annotations = {}) => {
        if (logged < burst) {
          logged++
          Queue.offerUnsafe(lines, { message, annotations })
        } else {
          suppressed.set(reason, (suppressed.get(reason) ?? 0) + 1)
        }
      }
    }
  })
