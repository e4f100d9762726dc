/**
 * Benchmark dispatcher: `npm run bench` runs every benchmark, `npm run bench -- NAME… [--rounds N]` runs the named
 * ones. Each benchmark module exports `run(argv): Promise<unknown>` (it reads its own options from argv); progress
 * goes to stderr, each result is printed as an indented JSON document, and the whole result last, on one line.
 */
import { cpus } from "node:os"

const all = ["shamir", "proxy", "stages", "reconfigure", "soak", "authority", "controlplane"] as const
const argv = process.argv.slice(2)
const requested = argv.filter((a, i) => !a.startsWith("--") && !argv[i - 1]?.startsWith("--"))
const names = requested.length === 0 ? all : requested
const unknown = names.filter((n) => !(all as ReadonlyArray<string>).includes(n))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; available: ${all.join(", ")}`)
  process.exit(2)
}
const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version }
const results: Array<{ bench: string; result: unknown }> = []
for (const name of names) {
  const module: { run: (argv: ReadonlyArray<string>) => Promise<unknown> } = await import(`./${name}.ts`)
  const result = await module.run(argv)
  results.push({ bench: name, result })
  console.log(JSON.stringify({ bench: name, machine, result }, null, 2))
}
console.log(JSON.stringify({ machine, results }))
