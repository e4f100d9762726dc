/**
 * Benchmark dispatcher: `npm run bench` runs every benchmark, `npm run bench -- NAME…` runs the named ones.
 * Each benchmark module exports `run(): Promise<unknown>`; its result is printed as one JSON document.
 * Arguments are parsed like `tq`'s (`--help`, unknown names and flags refused).
 */
import { cpus } from "node:os"
import { Console, Effect } from "effect"
import { Argument, Command } from "effect/cli"
import * as Main from "../src/cli/Main.ts"

const all = ["shamir", "proxy", "reconfigure", "soak", "authority"] as const

const bench = Command.make(
  "bench",
  {
    names: Argument.Literals("benchmark", all).pipe(
      Argument.variadic(),
      Argument.withDescription(`the benchmarks to run (default: all of ${all.join(", ")})`)
    )
  },
  Effect.fn(function* ({ names }) {
    const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version }
    for (const name of names.length === 0 ? all : names) {
      const module: { run: () => Promise<unknown> } = yield* Effect.promise(() => import(`./${name}.ts`))
      const result = yield* Effect.promise(module.run)
      yield* Console.log(JSON.stringify({ bench: name, machine, result }, null, 2))
    }
  })
).pipe(Command.withDescription("Run benchmarks; each prints one JSON document"))

Main.run(bench, "0.1.0")
