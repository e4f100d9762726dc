/**
 * A real OTLP/HTTP receiver for tests, on a free loopback port for the test's scope: it keeps every span
 * posted to `/v1/traces` (JSON), with the `service.name` of the resource that sent it.
 */
import { createServer, type Server } from "node:http"
import { Effect } from "effect"

export interface ReceivedSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  /** The `service.name` of the resource that sent it. */
  readonly service: unknown
}

interface OtlpTraces {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: { readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: unknown }> }
    readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<Omit<ReceivedSpan, "service">> }>
  }>
}

/** A real OTLP/HTTP receiver on a free loopback port: it keeps every span posted to `/v1/traces` (JSON). */
export const receiver = Effect.acquireRelease(
  Effect.callback<{ readonly server: Server; readonly spans: Array<ReceivedSpan> }>((resume) => {
    const spans: Array<ReceivedSpan> = []
    const server = createServer((request, response) => {
      let body = ""
      request.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8")
      })
      request.on("end", () => {
        if (request.url === "/v1/traces") {
          const traces: OtlpTraces = JSON.parse(body)
          for (const r of traces.resourceSpans) {
            const service = r.resource.attributes.find((a) => a.key === "service.name")?.value
            for (const s of r.scopeSpans) spans.push(...s.spans.map((span) => ({ ...span, service })))
          }
        }
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, spans })))
  }),
  ({ server }) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(
  Effect.map(({ server, spans }) => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return { url: `http://127.0.0.1:${port}`, spans }
  })
)
