/**
 * A warning log that a flood cannot fill: at most `perInterval` lines per interval are written, the
 * rest are counted by reason and reported in one summary line when the next interval opens. Used for
 * refusals of hostile input (forged or unauthorized peer messages, refused handshakes), which an
 * attacker controls the rate of.
 */
import { Clock, Duration, Effect } from "effect"

/** A rate-limited warning log. */
export interface RateLimitedLog {
  /** Logs `message` (with `annotations`) unless the interval's budget is spent; `reason` groups the summary. */
  readonly warn: (reason: string, message: string, annotations: Record<string, unknown>) => Effect.Effect<void>
}

/** A log writing at most `perInterval` warnings per `interval` (defaults: 10 per second). */
export const make = (options?: {
  readonly perInterval?: number
  readonly interval?: Duration.Input
  /** What is refused, for the summary line (default "refusals"). */
  readonly subject?: string
}): RateLimitedLog => {
  const perInterval = options?.perInterval ?? 10
  const intervalMillis = Duration.toMillis(Duration.fromInputUnsafe(options?.interval ?? Duration.seconds(1)))
  const subject = options?.subject ?? "refusals"
  let windowStart = Number.NEGATIVE_INFINITY
  let written = 0
  let suppressed = new Map<string, number>()

  const summary = (): Effect.Effect<void> => {
    if (suppressed.size === 0) return Effect.void
    const counts = Object.fromEntries(suppressed)
    const total = Array.from(suppressed.values()).reduce((a, b) => a + b, 0)
    suppressed = new Map()
    return Effect.logWarning(`${total} more ${subject} were not logged (rate limit)`).pipe(
      Effect.annotateLogs({ suppressed: counts })
    )
  }

  return {
    warn: (reason, message, annotations) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        if (now - windowStart >= intervalMillis) {
          yield* summary()
          windowStart = now
          written = 0
        }
        if (written < perInterval) {
          written++
          yield* Effect.logWarning(message).pipe(Effect.annotateLogs({ ...annotations, reason }))
        } else {
          suppressed.set(reason, (suppressed.get(reason) ?? 0) + 1)
        }
      })
  }
}
