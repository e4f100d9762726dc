/**
 * A plain HTTP call for tests that look at a node API's raw answers (status and body text), outside the typed
 * client: GET without a body, POST with a JSON body (a string is sent as is, so malformed bodies can be sent).
 */
import { Effect } from "effect"

/** What an HTTP call answered. */
export interface Answer {
  readonly status: number
  readonly body: string
}

/** GETs `url`, or POSTs `body` to it as JSON (a string as is, anything else encoded). */
export const call = (url: string, body?: unknown): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(
      url,
      body === undefined
        ? {}
        : {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: typeof body === "string" ? body : JSON.stringify(body)
          }
    )
    return { status: response.status, body: await response.text() }
  })
