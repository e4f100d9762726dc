/**
 * A fake link for NodeTask-level tests: it records every frame offered to it and why it was closed, and
 * helpers that build the connection manager's events for it.
 */
import { Effect } from "effect"
import type { LinkCloseReason, LinkHandle } from "../../src/runtime/Link.ts"
import type * as Wire from "../../src/runtime/Wire.ts"
import type { BaseboardId } from "../../src/types/BaseboardId.ts"

export interface FakeLink {
  readonly handle: LinkHandle
  /** Protocol frames as offered, proxy frames as the plain data the hot path offers. */
  readonly frames: Array<Wire.Frame | Wire.ProxyFrame>
  readonly closed: Array<LinkCloseReason>
}

export const fakeLink = (connectionId: number, peer: BaseboardId): FakeLink => {
  const frames: Array<Wire.Frame | Wire.ProxyFrame> = []
  const closed: Array<LinkCloseReason> = []
  const record = (frame: Wire.Frame | Wire.ProxyFrame) => {
    frames.push(frame)
    return true
  }
  const handle: LinkHandle = {
    connectionId,
    peer,
    offer: record,
    offerProxy: record,
    close: (reason) => Effect.sync(() => void closed.push(reason))
  }
  return { handle, frames, closed }
}

/** The `LinkUp` of a fake link whose peer listens on 127.0.0.1:`port`. */
export const linkUp = (link: FakeLink, direction: "inbound" | "outbound", port: number) => ({
  _tag: "LinkUp" as const,
  connectionId: link.handle.connectionId,
  peer: link.handle.peer,
  listenAddress: { host: "127.0.0.1", port },
  direction,
  remoteAddress: `127.0.0.1:${port}`,
  handle: link.handle
})
