/**
 * Shamir split and combine of a 32-byte secret: ours (table-free, branch-free) against the audited
 * `shamir-secret-sharing` package (log/exp tables), measured in the same run on the same machine.
 */
import { combine as baselineCombine, split as baselineSplit } from "shamir-secret-sharing"
import * as Gfss from "../src/gfss/Gfss.ts"

const cases: ReadonlyArray<readonly [number, number]> = [
  [3, 2],
  [8, 5],
  [16, 9],
  [32, 17]
]

/** Mean microseconds per call over enough iterations to run for at least `budgetMs`, after a warm-up. */
const time = async (f: () => unknown, budgetMs = 300): Promise<number> => {
  for (let i = 0; i < 200; i++) await f()
  let iterations = 0
  const start = performance.now()
  while (performance.now() - start < budgetMs) {
    for (let i = 0; i < 50; i++) await f()
    iterations += 50
  }
  return ((performance.now() - start) * 1000) / iterations
}

const round = (x: number) => Math.round(x * 100) / 100

export const run = async () => {
  const secret = crypto.getRandomValues(new Uint8Array(32))
  const rows = []
  for (const [n, k] of cases) {
    const label = `n=${n},k=${k}`
    const oursSplit = await time(() => Gfss.split(secret, n, k))
    const baseSplit = await time(() => baselineSplit(secret, n, k))
    const ours = Gfss.split(secret, n, k)
    if (ours._tag !== "Success") throw new Error("split failed")
    const subset = ours.success.slice(0, k)
    const theirs = (await baselineSplit(secret, n, k)).slice(0, k)
    const oursCombine = await time(() => Gfss.combine(subset))
    const baseCombine = await time(() => baselineCombine(theirs))
    rows.push(
      {
        case: label,
        op: "split",
        ours_us: round(oursSplit),
        baseline_us: round(baseSplit),
        ratio: round(oursSplit / baseSplit)
      },
      {
        case: label,
        op: "combine",
        ours_us: round(oursCombine),
        baseline_us: round(baseCombine),
        ratio: round(oursCombine / baseCombine)
      }
    )
  }
  return { baseline: "shamir-secret-sharing@0.0.4", rows, target: "ratio <= 1 at every size" }
}
