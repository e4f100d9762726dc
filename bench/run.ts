/**
 * Benchmark dispatcher: `npm run bench` runs every benchmark, `npm run bench -- NAME… [--rounds N]` runs the named
 * ones. Each benchmark module exports `run(argv): Promise<unknown>` (it reads its own options from argv); progress
 * goes to stderr, each result is printed as an indented JSON document, and the whole result last, on one line.
 * Arguments are parsed like `tq`'s (`--help`, unknown names and flags refused).
 */
import { cpus } from "node:os"
import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Main from "../src/cli/Main.ts"

const all = ["shamir", "proxy", "stages", "reconfigure", "soak", "authority", "controlplane"] as const

const bench = Command.make(
  "bench",
  {
    names: Argument.Literals("benchmark", all).pipe(
      Argument.variadic(),
      Argument.withDescription(`the benchmarks to run (default: all of ${all.join(", ")})`)
    ),
    // Read by the benchmark modules themselves from the arguments; declared here so they are checked and listed.
    rounds: Flag.Int("rounds").pipe(
      Flag.filter(
        (n) => n >= 1 && n <= 1000,
        (n) => `--rounds ${n}: give 1 to 1000 rounds`
      ),
      Flag.optional,
      Flag.withDescription("proxy: interleaved rounds (default 5)")
    ),
    only: Flag.String("only").pipe(Flag.optional, Flag.withDescription("proxy: only these variants (a,b,…)")),
    requests: Flag.Int("requests").pipe(
      Flag.filter(
        (n) => n >= 1 && n <= 10_000_000,
        (n) => `--requests ${n}: give 1 to 10,000,000 requests`
      ),
      Flag.optional,
      Flag.withDescription("stages: proxied requests profiled (default 20000)")
    )
  },
  Effect.fn(function* ({ names }) {
    const argv = process.argv.slice(2)
    const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version }
    const results: Array<{ bench: string; result: unknown }> = []
    for (const name of names.length === 0 ? all : names) {
      const module: { run: (argv: ReadonlyArray<string>) => Promise<unknown> } = yield* Effect.promise(
        () => import(`./${name}.ts`)
      )
      const result = yield* Effect.promise(() => module.run(argv))
      results.push({ bench: name, result })
      yield* Console.log(JSON.stringify({ bench: name, machine, result }, null, 2))
    }
    yield* Console.log(JSON.stringify({ machine, results }))
  })
).pipe(Command.withDescription("Run benchmarks; each prints one JSON document, and all of them last on one line"))

Main.run(bench, "0.1.0")
