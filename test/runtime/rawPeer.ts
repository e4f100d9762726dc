/**
 * Raw TCP helpers for tests that play a misbehaving peer or a silent server: a valid Hello frame, bytes
 * sent until the node closes the connection, and a loopback server whose connections are handed to a
 * callback and destroyed with the scope.
 */
import * as net from "node:net"
import { Effect, Result } from "effect"
import * as Frame from "../../src/runtime/Frame.ts"
import * as Wire from "../../src/runtime/Wire.ts"
import type { BaseboardId } from "../../src/types/BaseboardId.ts"
import { sled } from "./rack.ts"

/** A framed `Hello` from `id` (default sled 9) listening at `listenPort` (default 1), claiming `version`. */
export const helloFrame = (
  id: BaseboardId = sled(9),
  version: number = Wire.protocolVersion,
  listenPort = 1
): Uint8Array =>
  Result.getOrThrow(
    Frame.encode(
      Wire.encode(
        new Wire.Hello({ id, listenAddress: { host: "127.0.0.1", port: listenPort }, protocolVersion: version })
      )
    )
  )

/** A connection to `port` that sends `bytes` and then stays open, silent, until the scope closes. */
export const holdOpen = (port: number, bytes: Uint8Array) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const socket = net.connect(port, "127.0.0.1")
      socket.on("error", () => undefined)
      socket.resume()
      socket.write(bytes)
      return socket
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** Sends `bytes` on a fresh connection to `port`, dropping what comes back; succeeds once the node closes it (at most 5 s). */
export const sendUntilClosed = (port: number, bytes: Uint8Array) =>
  Effect.callback<"closed">((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.on("error", () => undefined)
    // Read (and drop) what the node sends, so its close is seen.
    socket.resume()
    socket.on("close", () => resume(Effect.succeed("closed")))
    socket.write(bytes)
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeout("5 seconds"))

/** A loopback TCP server on `port` (default: any free one) handing each connection to `onConnection`. */
export const tcpServer = (onConnection: (socket: net.Socket) => void = () => undefined, port = 0) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly server: net.Server; readonly port: number; readonly sockets: Set<net.Socket> }>(
      (resume) => {
        const sockets = new Set<net.Socket>()
        const server = net.createServer((socket) => {
          sockets.add(socket)
          socket.on("error", () => undefined)
          onConnection(socket)
        })
        server.listen(port, "127.0.0.1", () => {
          const address = server.address()
          resume(
            Effect.succeed({
              server,
              port: typeof address === "object" && address !== null ? address.port : port,
              sockets
            })
          )
        })
      }
    ),
    ({ server, sockets }) =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        server.close()
      })
  )
