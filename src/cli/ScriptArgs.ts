/**
 * The flags of the long-run scripts (`npm run sim`, `npm run chaos`): `--name N` with a non-negative
 * integer, read from the process arguments; anything else prints the rule and exits 2.
 */

/** The value of `--name`, or `fallback` when the flag is absent. */
export const intArg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback
  if (!Number.isInteger(v) || v < 0) {
    console.error(`--${name} takes a non-negative integer`)
    process.exit(2)
  }
  return v
}
