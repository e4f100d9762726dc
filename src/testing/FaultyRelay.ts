/**
 * A fault-injecting TCP relay for network-fault tests: it listens on a loopback port and forwards
 * every connection to a target address, byte for byte, until told to misbehave. A node advertises the
 * relay's address (`advertise`), so its peers reach it only through the relay.
 *
 * Faults, switchable at any time: `Delay` holds every chunk for a while (order kept); `Drop` discards
 * every other chunk (the stream is corrupted, as by a broken middlebox); `Blackhole` forwards nothing
 * and closes nothing; `HalfOpen` closes the target side and silently swallows the other, so one peer
 * sees the connection end and the other must notice on its own; `SlowReader` stops reading for a
 * pause after every chunk, so the sender's buffers fill. `cut` resets every current connection.
 */
import * as net from "node:net"
import { Effect, type Scope } from "effect"
import type { Address } from "../runtime/ConnectionManager.ts"

export type RelayFault =
  | { readonly _tag: "Pass" }
  | { readonly _tag: "Delay"; readonly millis: number }
  | { readonly _tag: "Drop" }
  | { readonly _tag: "Blackhole" }
  | { readonly _tag: "HalfOpen" }
  | { readonly _tag: "SlowReader"; readonly pauseMillis: number }

export interface FaultyRelay {
  /** Where peers should connect (and the relayed node should advertise). */
  readonly address: Address
  readonly setFault: (fault: RelayFault) => Effect.Effect<void>
  /** Resets every current connection; returns how many there were. */
  readonly cut: Effect.Effect<number>
  /** Connections relayed so far, and chunks forwarded and discarded. */
  readonly stats: Effect.Effect<{ readonly connections: number; readonly forwarded: number; readonly dropped: number }>
}

interface Pair {
  readonly client: net.Socket
  readonly upstream: net.Socket
}

/** Starts a relay to `target` on a free loopback port, closed with the scope. */
export const make = (target: Address): Effect.Effect<FaultyRelay, never, Scope.Scope> =>
  Effect.gen(function* () {
    let fault: RelayFault = { _tag: "Pass" }
    const pairs = new Set<Pair>()
    const counts = { connections: 0, forwarded: 0, dropped: 0 }
    let chunk = 0

    /** Forwards `from` to `to` under the fault in force when each chunk arrives. */
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on("data", (data: Buffer) => {
        const now = fault
        switch (now._tag) {
          case "Pass":
            counts.forwarded++
            to.write(data)
            return
          case "Delay":
            counts.forwarded++
            setTimeout(() => to.writable && to.write(data), now.millis)
            return
          case "Drop":
            if (chunk++ % 2 === 0) {
              counts.dropped++
            } else {
              counts.forwarded++
              to.write(data)
            }
            return
          case "Blackhole":
          case "HalfOpen":
            counts.dropped++
            return
          case "SlowReader":
            counts.forwarded++
            to.write(data)
            from.pause()
            setTimeout(() => from.resume(), now.pauseMillis)
            return
        }
      })
    }

    const server = yield* Effect.acquireRelease(
      Effect.callback<net.Server>((resume) => {
        const server = net.createServer((client) => {
          counts.connections++
          const upstream = net.connect(target.port, target.host)
          const pair: Pair = { client, upstream }
          pairs.add(pair)
          // One end closing closes the other, except that in HalfOpen the client's side outlives its upstream.
          client.on("close", () => {
            upstream.destroy()
            pairs.delete(pair)
          })
          upstream.on("close", () => {
            if (fault._tag !== "HalfOpen") client.destroy()
          })
          client.on("error", () => undefined)
          upstream.on("error", () => undefined)
          pipe(client, upstream)
          pipe(upstream, client)
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.sync(() => {
          for (const { client, upstream } of pairs) {
            client.destroy()
            upstream.destroy()
          }
          server.close()
        })
    )
    const bound = server.address()
    const port = typeof bound === "object" && bound !== null ? bound.port : 0

    return {
      address: { host: "127.0.0.1", port },
      setFault: (next) =>
        Effect.sync(() => {
          fault = next
          // Half-open: the target's side of every connection goes away now; the client's side hears nothing.
          if (next._tag === "HalfOpen") for (const { upstream } of pairs) upstream.destroy()
        }),
      cut: Effect.sync(() => {
        const n = pairs.size
        for (const { client, upstream } of pairs) {
          client.resetAndDestroy()
          upstream.resetAndDestroy()
        }
        pairs.clear()
        return n
      }),
      stats: Effect.sync(() => ({ ...counts }))
    }
  })
