/**
 * Benchmark dispatcher: `npm run bench` runs every benchmark, `npm run bench -- NAME…` runs the named ones.
 * Each benchmark module exports `run(): Promise<unknown>`; its result is printed as one JSON document.
 */
import { cpus } from "node:os"

const all = ["shamir", "proxy", "reconfigure", "soak", "controlplane"] as const
const requested = process.argv.slice(2)
const names = requested.length === 0 ? all : requested
const unknown = names.filter((n) => !(all as ReadonlyArray<string>).includes(n))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; available: ${all.join(", ")}`)
  process.exit(2)
}
const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version }
for (const name of names) {
  const module: { run: () => Promise<unknown> } = await import(`./${name}.ts`)
  const result = await module.run()
  console.log(JSON.stringify({ bench: name, machine, result }, null, 2))
}
