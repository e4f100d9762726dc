/**
 * A rack of real node processes on one machine, for examples and chaos campaigns: each sled is a
 * `tq node run` OS process with its own config, mutual-TLS certificates from a throwaway rack CA, two
 * file-ledger copies and a log file that collects everything the process prints, across restarts.
 *
 * Sleds can be started, killed with SIGKILL, paused with SIGSTOP and resumed with SIGCONT. With
 * `relays`, every sled is reached only through a `FaultyRelay` in this process (it advertises the
 * relay's address), so the whole peer network can be faulted. A process that exits without being killed
 * is recorded as an unexpected exit. Closing the scope kills every process (resuming paused ones first
 * so nothing is left stopped) and closes the relays.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomInt } from "node:crypto"
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Deferred, Effect, Option, Schema, type Scope } from "effect"
import type { NodeConfig } from "../cli/NodeConfig.ts"
import type { SigningKey } from "../crypto/AuthorityKey.ts"
import * as RackPki from "../runtime/RackPki.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as FaultyRelay from "./FaultyRelay.ts"

/** A sled process did not reach the expected state in time, or could not be started. */
export class SledProcessError extends Schema.TaggedError<SledProcessError>()("SledProcessError", {
  sled: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `sled ${this.sled}: ${this.reason}; its output is in its log file`
  }
}

/** One sled: its identity, files and current process. */
export interface Sled {
  readonly index: number
  readonly id: BaseboardId
  readonly configPath: string
  /** Where its API listens once open. */
  readonly apiUrl: string
  readonly ledgerPaths: ReadonlyArray<string>
  readonly logPath: string
}

/** What a sled's process is doing. */
export type SledState = "stopped" | "running" | "paused"

export interface ProcessRackOptions {
  /** A directory the rack owns (certificates, configs, ledgers, logs). */
  readonly dir: string
  readonly ids: ReadonlyArray<BaseboardId>
  /** Sleds that open their API only once committed (reached by proxy until then). */
  readonly apiAfterCommit?: (index: number) => boolean
  readonly link?: NodeConfig["link"]
  readonly logLevel?: NodeConfig["logLevel"]
  /** Put a fault-injecting relay in front of every sled's peer port (default false). */
  readonly relays?: boolean
  readonly handshake?: NodeConfig["handshake"]
  /** Admission bounds of every sled. */
  readonly limits?: NodeConfig["limits"]
  /** Run every sled under this open-file limit (`ulimit -n`), as a small or crowded machine would. */
  readonly descriptorLimit?: number
}

export interface ProcessRack {
  readonly sleds: ReadonlyArray<Sled>
  /** The control plane's authority key written with the rack's certificates (its sleds pin the public half). */
  readonly authority: SigningKey
  readonly state: (index: number) => SledState
  /** Starts a stopped sled and waits until its peer port listens. */
  readonly start: (index: number) => Effect.Effect<void, SledProcessError>
  /** Waits (up to `timeout`, default 30 s) until the sled's API listens and returns its base URL. */
  readonly api: (index: number, timeout?: number) => Effect.Effect<string, SledProcessError>
  /** The API URL of the sled's current process, if it listens. */
  readonly apiNow: (index: number) => Option.Option<string>
  /** The process id of a running sled. */
  readonly pid: (index: number) => Option.Option<number>
  /** SIGKILL, then waits for the process to be gone. */
  readonly kill: (index: number) => Effect.Effect<void>
  readonly pause: (index: number) => Effect.Effect<void>
  readonly resume: (index: number) => Effect.Effect<void>
  /** Processes that exited without being killed: `sled: exit code / signal: last line of output`. */
  readonly unexpectedExits: () => ReadonlyArray<string>
  /** Waits for the first process that exits without being killed, and describes it. */
  readonly firstUnexpectedExit: Effect.Effect<string>
  /** Applies `fault` to every relay (the whole peer network); nothing without `relays`. */
  readonly setNetworkFault: (fault: FaultyRelay.RelayFault) => Effect.Effect<void>
}

const tqScript = fileURLToPath(new URL("../cli/tq.ts", import.meta.url))

/**
 * A free TCP port on loopback, below Linux's ephemeral range (32768–60999). A sled binds its ports long
 * after they are chosen (a new sled opens its API only once committed, a killed one rebinds on restart),
 * and a port from the ephemeral range can meanwhile become the local port of some outgoing connection.
 * The port is random (not seeded: two racks with one seed must not pick the same ports) and checked free.
 */
export const freePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const attempt = () => {
    const port = randomInt(20_000, 32_000)
    const server = net.createServer()
    server.once("error", attempt)
    server.listen(port, "127.0.0.1", () => server.close(() => resume(Effect.succeed(port))))
  }
  attempt()
})

const ListeningLine = Schema.fromJsonString(
  Schema.Union([
    Schema.Struct({ event: Schema.Literal("peer-listening"), port: Schema.Int }),
    Schema.Struct({ event: Schema.Literal("api-listening"), url: Schema.String })
  ])
)
const decodeListening = Schema.decodeUnknownOption(ListeningLine)

interface Running {
  readonly child: ChildProcess
  readonly peer: Deferred.Deferred<void>
  readonly api: Deferred.Deferred<string>
  readonly exited: Deferred.Deferred<void>
  apiUrl: string | undefined
  paused: boolean
  killed: boolean
}

/** Writes the rack's certificates and configs into `dir` and returns the rack; no process runs yet. */
export const make = (options: ProcessRackOptions): Effect.Effect<ProcessRack, RackPki.PkiError, Scope.Scope> =>
  Effect.gen(function* () {
    const { dir } = options
    const { authority } = yield* RackPki.writeRack(join(dir, "certs"), options.ids.map(String))
    const peerPorts = yield* Effect.forEach(options.ids, () => freePort)
    const apiPorts = yield* Effect.forEach(options.ids, () => freePort)
    const relays =
      options.relays === true
        ? yield* Effect.forEach(peerPorts, (port) => FaultyRelay.make({ host: "127.0.0.1", port }))
        : []
    /** Where peers reach sled `i`: its relay, or its peer port. */
    const reachAt = (i: number) => relays[i]?.address ?? { host: "127.0.0.1", port: peerPorts[i] ?? 0 }
    const sleds: Array<Sled> = options.ids.map((id, index) => {
      const stem = RackPki.fileStem(String(id))
      const home = join(dir, `sled${index + 1}`)
      mkdirSync(home, { recursive: true })
      const ledgerPaths = [join(home, "m2a-ledger.json"), join(home, "m2b-ledger.json")]
      const config: NodeConfig = {
        id: String(id),
        peer: { host: "127.0.0.1", port: peerPorts[index] ?? 0 },
        api: { host: "127.0.0.1", port: apiPorts[index] ?? 0 },
        apiAfterCommit: options.apiAfterCommit?.(index) ?? false,
        tls: {
          cert: join(dir, "certs", `${stem}.pem`),
          key: join(dir, "certs", `${stem}.key`),
          ca: join(dir, "certs", "ca.pem")
        },
        authority: join(dir, "certs", "authority.pub"),
        ledger: ledgerPaths,
        ...(relays.length > 0 ? { advertise: reachAt(index) } : {}),
        peers: peerPorts.flatMap((_, j) => (j === index ? [] : [reachAt(j)])),
        ...(options.link === undefined ? {} : { link: options.link }),
        ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
        ...(options.handshake === undefined ? {} : { handshake: options.handshake }),
        ...(options.limits === undefined ? {} : { limits: options.limits })
      }
      const configPath = join(home, "config.json")
      writeFileSync(configPath, JSON.stringify(config, null, 2))
      const apiUrl = `http://127.0.0.1:${apiPorts[index] ?? 0}`
      return { index, id, configPath, apiUrl, ledgerPaths, logPath: join(home, "node.log") }
    })

    const running = new Map<number, Running>()
    const unexpected: Array<string> = []
    const firstUnexpected = Deferred.makeUnsafe<string>()
    const sledAt = (index: number): Sled => {
      const sled = sleds[index]
      if (sled === undefined) throw new RangeError(`no sled ${index}`)
      return sled
    }

    const start = (index: number) =>
      Effect.gen(function* () {
        const sled = sledAt(index)
        if (running.has(index)) return
        const log = createWriteStream(sled.logPath, { flags: "a" })
        const node = [process.execPath, "--experimental-strip-types", "--no-warnings", tqScript]
        const args = [...node, "node", "run", "--config", sled.configPath]
        const limit = options.descriptorLimit
        // With a limit, a shell lowers it and then becomes the node (exec), so the pid is the node's.
        const child =
          limit === undefined
            ? spawn(args[0] ?? "node", args.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
            : spawn("/bin/sh", ["-c", `ulimit -n ${limit} && exec "$@"`, "sh", ...args], {
                stdio: ["ignore", "pipe", "pipe"]
              })
        const entry: Running = {
          child,
          peer: Deferred.makeUnsafe<void>(),
          api: Deferred.makeUnsafe<string>(),
          exited: Deferred.makeUnsafe<void>(),
          apiUrl: undefined,
          paused: false,
          killed: false
        }
        running.set(index, entry)
        let buffered = ""
        let lastLine = ""
        const remember = (chunk: Buffer) => {
          const lines = chunk
            .toString("utf8")
            .split("\n")
            .filter((l) => l.trim() !== "")
          lastLine = lines.at(-1) ?? lastLine
        }
        child.stdout?.on("data", (chunk: Buffer) => {
          log.write(chunk)
          remember(chunk)
          buffered += chunk.toString("utf8")
          const lines = buffered.split("\n")
          buffered = lines.pop() ?? ""
          for (const line of lines) {
            const event = decodeListening(line)
            if (Option.isNone(event)) continue
            if (event.value.event === "peer-listening") Deferred.doneUnsafe(entry.peer, Effect.void)
            else {
              entry.apiUrl = event.value.url
              Deferred.doneUnsafe(entry.api, Effect.succeed(event.value.url))
            }
          }
        })
        child.stderr?.on("data", (chunk: Buffer) => {
          log.write(chunk)
          remember(chunk)
        })
        child.on("exit", (code, signal) => {
          log.end()
          // The sled is stopped before anyone waiting on its exit hears of it.
          if (running.get(index) === entry) running.delete(index)
          if (!entry.killed) {
            const description = `${sled.id}: exit ${code ?? signal}: ${lastLine.slice(0, 300)}`
            unexpected.push(description)
            Deferred.doneUnsafe(firstUnexpected, Effect.succeed(description))
          }
          Deferred.doneUnsafe(entry.exited, Effect.void)
        })
        const ready = yield* Deferred.await(entry.peer).pipe(
          Effect.raceFirst(Deferred.await(entry.exited).pipe(Effect.as(false))),
          Effect.as(true),
          Effect.timeoutOption("30 seconds")
        )
        if (Option.isNone(ready) || running.get(index) !== entry) {
          return yield* new SledProcessError({ sled: String(sled.id), reason: "its peer port did not open" })
        }
      })

    const kill = (index: number) =>
      Effect.suspend(() => {
        const entry = running.get(index)
        if (entry === undefined) return Effect.void
        entry.killed = true
        entry.child.kill("SIGKILL")
        return Deferred.await(entry.exited)
      })

    const signal = (index: number, name: "SIGSTOP" | "SIGCONT") =>
      Effect.sync(() => {
        const entry = running.get(index)
        if (entry === undefined || entry.paused === (name === "SIGSTOP")) return
        entry.paused = name === "SIGSTOP"
        entry.child.kill(name)
      })

    yield* Effect.addFinalizer(() =>
      Effect.forEach(Array.from(running.keys()), (index) => Effect.andThen(signal(index, "SIGCONT"), kill(index)), {
        discard: true
      })
    )

    const rack: ProcessRack = {
      authority,
      sleds,
      state: (index) => {
        const entry = running.get(index)
        return entry === undefined ? "stopped" : entry.paused ? "paused" : "running"
      },
      start,
      api: (index, timeout = 30_000) =>
        Effect.suspend(() => {
          const entry = running.get(index)
          const sled = String(sledAt(index).id)
          if (entry === undefined) return Effect.fail(new SledProcessError({ sled, reason: "it is not running" }))
          return Deferred.await(entry.api).pipe(
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () => Effect.fail(new SledProcessError({ sled, reason: `its API did not open in ${timeout} ms` }))
            })
          )
        }),
      apiNow: (index) => Option.fromNullishOr(running.get(index)?.apiUrl),
      pid: (index) => Option.fromNullishOr(running.get(index)?.child.pid),
      kill,
      pause: (index) => signal(index, "SIGSTOP"),
      resume: (index) => signal(index, "SIGCONT"),
      unexpectedExits: () => unexpected.slice(),
      firstUnexpectedExit: Deferred.await(firstUnexpected),
      setNetworkFault: (fault) => Effect.forEach(relays, (r) => r.setFault(fault), { discard: true })
    }
    return rack
  })
