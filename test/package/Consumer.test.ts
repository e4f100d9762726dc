/**
 * The package as a user gets it: `npm pack` (which builds `dist/` through `prepack`), the tarball
 * installed next to `effect` in a fresh project, the README's Layer run on plain Node (no type
 * stripping: only compiled JavaScript may load), the project typechecked by `tsc` under NodeNext with
 * the strictest options a consumer may use (the package's `.d.ts` are checked too: `skipLibCheck`
 * off; `DOM` is in `lib` because effect's own declarations name Web Crypto types), and `tq --help`
 * run from `node_modules/.bin`.
 */
import { cpSync, existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runProcess } from "../examples/script.ts"
import { tempDir } from "../runtime/tempDir.ts"

const root = join(import.meta.dirname, "..", "..")
const fixture = join(import.meta.dirname, "consumer")
const manifest: { readonly devDependencies: Readonly<Record<string, string>> } = JSON.parse(
  readFileSync(join(root, "package.json"), "utf8")
)

/** Runs a command that must succeed, failing the test with its output otherwise. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.flatMap(runProcess(command, args, { cwd }), (result) =>
    result.code === 0
      ? Effect.succeed(result)
      : Effect.die(new Error(`${command} ${args.join(" ")} exited ${result.code}:\n${result.output}`))
  )

/** The Layer the README shows, as the consumer program runs it. */
const readmeLayer = (source: string) => source.split("// README: layer\n")[1]?.split("// README: end")[0] ?? ""

describe("the packed package in a consumer project", () => {
  it.live(
    "installs from its tarball, runs the README's Layer on plain Node, typechecks strictly, and has a tq bin",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("consumer")
        const project = join(dir, "project")
        cpSync(fixture, project, { recursive: true })
        const pack = yield* run("npm", ["pack", "--silent", "--pack-destination", dir], root)
        const tarball = join(dir, pack.stdout.trim().split("\n").at(-1) ?? "")
        const pin = (name: string) => `${name}@${manifest.devDependencies[name]}`
        yield* run(
          "npm",
          [
            "install",
            "--no-audit",
            "--no-fund",
            "--silent",
            tarball,
            pin("effect"),
            pin("@effect/platform-node"),
            pin("@types/node")
          ],
          project
        )
        assert.isFalse(existsSync(join(project, "node_modules", "fast-check")), "the main entry needs no fast-check")

        yield* run(join(root, "node_modules", ".bin", "tsc"), ["-p", "."], project)
        const program = yield* run(process.execPath, ["--no-experimental-strip-types", "main.js"], project)
        // The last line: the node logs (plain TCP is insecure, and says so) before the program prints.
        assert.deepStrictEqual(JSON.parse(program.stdout.trim().split("\n").at(-1) ?? ""), {
          id: "913-0000019:1",
          listening: true,
          commits: [],
          api: "trust-quorum-node",
          subpaths: true
        })

        const help = yield* run(join(project, "node_modules", ".bin", "tq"), ["--help"], project)
        assert.include(help.stdout, "effect-trust-quorum: run nodes, operate a rack, replay simulations")

        const readme = readFileSync(join(root, "README.md"), "utf8")
        assert.include(readme, readmeLayer(readFileSync(join(fixture, "main.ts"), "utf8")))
      }),
    240_000
  )
})
