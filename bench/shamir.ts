/**
 * Shamir split and combine of a 32-byte secret: ours (table-free, branch-free on secret data) against the
 * audited `shamir-secret-sharing` package (log/exp tables), measured in the same run on the same machine.
 * Ours and the baseline alternate over several rounds and the median round is reported, so a burst of
 * load on the machine skews both sides alike instead of one.
 */
import { combine as baselineCombine, split as baselineSplit } from "shamir-secret-sharing"
import * as Gfss from "../src/gfss/Gfss.ts"

const cases: ReadonlyArray<readonly [number, number]> = [
  [3, 2],
  [8, 5],
  [16, 9],
  [32, 17]
]

const rounds = 7
const roundBudgetMs = 60

/** Mean microseconds per call over one round of at least `roundBudgetMs`. Every call is awaited, ours included. */
const timeRound = async (f: () => unknown): Promise<number> => {
  let iterations = 0
  const start = performance.now()
  while (performance.now() - start < roundBudgetMs) {
    for (let i = 0; i < 20; i++) await f()
    iterations += 20
  }
  return ((performance.now() - start) * 1000) / iterations
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

/** Warms both up, then alternates them for `rounds` rounds; returns the median µs per call of each. */
const compare = async (ours: () => unknown, baseline: () => unknown): Promise<readonly [number, number]> => {
  for (let i = 0; i < 500; i++) {
    await ours()
    await baseline()
  }
  const a: Array<number> = []
  const b: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    a.push(await timeRound(ours))
    b.push(await timeRound(baseline))
  }
  return [median(a), median(b)]
}

const round2 = (x: number) => Math.round(x * 100) / 100
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i])

const row = (label: string, op: string, [ours, baseline]: readonly [number, number]) => ({
  case: label,
  op,
  ours_us: round2(ours),
  baseline_us: round2(baseline),
  ratio: round2(ours / baseline)
})

export const run = async () => {
  const secret = crypto.getRandomValues(new Uint8Array(32))
  const rows = []
  for (const [n, k] of cases) {
    const label = `n=${n},k=${k}`
    rows.push(
      row(
        label,
        "split",
        await compare(
          () => Gfss.split(secret, n, k),
          () => baselineSplit(secret, n, k)
        )
      )
    )
    // Combine the last k shares (the highest x-coordinates), and check both sides really recover the secret.
    const ours = Gfss.split(secret, n, k)
    if (ours._tag !== "Success") throw new Error(`split(${n}, ${k}) failed: ${ours.failure.message}`)
    const subset = ours.success.slice(n - k)
    const theirs = (await baselineSplit(secret, n, k)).slice(n - k)
    const recovered = Gfss.combine(subset)
    if (recovered._tag !== "Success" || !sameBytes(recovered.success, secret)) throw new Error("ours did not recombine")
    if (!sameBytes(await baselineCombine(theirs), secret)) throw new Error("the baseline did not recombine")
    rows.push(
      row(
        label,
        "combine",
        await compare(
          () => Gfss.combine(subset),
          () => baselineCombine(theirs)
        )
      )
    )
  }
  return {
    baseline: "shamir-secret-sharing@0.0.4",
    method: `${rounds} alternating rounds of >= ${roundBudgetMs} ms per side after a warm-up; median round; µs per call`,
    rows,
    target: "ratio <= 1 at every size"
  }
}
