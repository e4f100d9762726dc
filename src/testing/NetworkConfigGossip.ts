/**
 * A deterministic simulation of network-config gossip over the pure rules (`protocol/NetworkConfig.ts`):
 * a rack of nodes, some of which join late, links that come up and go down, frames delivered in any
 * order or lost (a lost frame closes its link, as on TCP), crashes and restarts from the persisted
 * config, control-plane updates at any node (stale ones included), and an attacker holding a rack
 * certificate who pushes configs it forged or replayed for another rack.
 *
 * Invariants checked after every event: no node ever moves to a lower generation (a restart included:
 * a config is persisted before it is adopted); every config a node holds is one the control plane
 * signed for this rack. Liveness, at the end: once every node runs, every link is up and every frame is
 * delivered, every node holds the highest generation any update was accepted at. Actions are plain
 * data with selectors taken modulo the candidates when they run, so any sequence is meaningful and a
 * failing one shrinks and replays exactly.
 */

import { Result } from "effect"
import * as fc from "fast-check"
import type { SigningKey } from "../crypto/AuthorityKey.ts"
import * as Rules from "../protocol/NetworkConfig.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import * as Decision from "../types/Decision.ts"
import { NetworkConfig } from "../types/NetworkConfig.ts"
import * as TestAuthority from "./TestAuthority.ts"

export type GossipAction =
  | { readonly _tag: "Update"; readonly sel: number; readonly generation: number }
  | { readonly _tag: "Deliver"; readonly sel: number }
  | { readonly _tag: "Lose"; readonly sel: number }
  | { readonly _tag: "LinkUp"; readonly a: number; readonly b: number }
  | { readonly _tag: "LinkDown"; readonly sel: number }
  | { readonly _tag: "Crash"; readonly sel: number }
  | { readonly _tag: "Start"; readonly sel: number }
  | { readonly _tag: "Forge"; readonly sel: number; readonly generation: number }

const sel = fc.nat({ max: 1 << 20 })
const generation = fc.integer({ min: 1, max: 12 })

/** One action: mostly deliveries, then links, updates, crashes and forgeries. */
export const gossipAction: fc.Arbitrary<GossipAction> = fc.oneof(
  { weight: 30, arbitrary: sel.map((s): GossipAction => ({ _tag: "Deliver", sel: s })) },
  { weight: 3, arbitrary: sel.map((s): GossipAction => ({ _tag: "Lose", sel: s })) },
  { weight: 8, arbitrary: fc.tuple(sel, sel).map(([a, b]): GossipAction => ({ _tag: "LinkUp", a, b })) },
  { weight: 3, arbitrary: sel.map((s): GossipAction => ({ _tag: "LinkDown", sel: s })) },
  {
    weight: 6,
    arbitrary: fc.tuple(sel, generation).map(([s, g]): GossipAction => ({ _tag: "Update", sel: s, generation: g }))
  },
  { weight: 3, arbitrary: sel.map((s): GossipAction => ({ _tag: "Crash", sel: s })) },
  { weight: 4, arbitrary: sel.map((s): GossipAction => ({ _tag: "Start", sel: s })) },
  {
    weight: 2,
    arbitrary: fc.tuple(sel, generation).map(([s, g]): GossipAction => ({ _tag: "Forge", sel: s, generation: g }))
  }
)

/** A case: the rack size, how many nodes run from the start (the rest join late), and the actions. */
export interface GossipCase {
  readonly nodes: number
  readonly initiallyRunning: number
  readonly actions: ReadonlyArray<GossipAction>
}

export const gossipCase = (maxActions: number): fc.Arbitrary<GossipCase> =>
  fc.integer({ min: 2, max: 6 }).chain((nodes) =>
    fc.record({
      nodes: fc.constant(nodes),
      initiallyRunning: fc.integer({ min: 1, max: nodes }),
      actions: fc.array(gossipAction, { minLength: Math.min(20, maxActions), maxLength: maxActions })
    })
  )

/** An invariant or liveness failure, naming the event. */
export class GossipViolation extends Error {
  override readonly name = "GossipViolation"
}

const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const otherRack = "99999999-8888-4777-8666-555555555555"
const authority: SigningKey = TestAuthority.fromLabel("network-config gossip: control plane")
const forger: SigningKey = TestAuthority.fromLabel("network-config gossip: forger")
const attacker = BaseboardId.make("attacker", "0")
const blobOf = (generation: number) => new TextEncoder().encode(`network config ${generation}`)

interface SimNode {
  readonly id: BaseboardId.BaseboardId
  running: boolean
  /** What the node holds in memory; equal to `persisted` whenever it runs (persist before adopt). */
  current: NetworkConfig | undefined
  persisted: NetworkConfig | undefined
  /** The highest generation the node ever held: it must never hold less. */
  highWater: number
}

interface Frame {
  readonly from: number
  readonly to: number
  readonly config: NetworkConfig
}

/** What a run did, for the test's statistics. */
export interface GossipReport {
  readonly events: number
  readonly accepted: number
  readonly adopted: number
  readonly refused: number
  readonly finalGeneration: number
}

/** Runs a case: throws `GossipViolation` at the first broken invariant, or if the rack does not converge. */
export const run = (
  c: GossipCase,
  options?: {
    /** A replacement for the receive rule — for mutation testing of the invariants only. */
    readonly unsafeReceive?: typeof Rules.receive
  }
): GossipReport => {
  const receiveRule = options?.unsafeReceive ?? Rules.receive
  const nodes: Array<SimNode> = Array.from({ length: c.nodes }, (_, i) => ({
    id: BaseboardId.make("913-0000019", String(i)),
    running: i < c.initiallyRunning,
    current: undefined,
    persisted: undefined,
    highWater: 0
  }))
  const links = new Set<string>()
  let frames: Array<Frame> = []
  let events = 0
  let accepted = 0
  let adopted = 0
  let refused = 0
  let highestAccepted = 0
  /** Every config the control plane signed, by generation (one blob per generation, as it must). */
  const signed = new Map<number, NetworkConfig>()
  const sign = (g: number): NetworkConfig => {
    const existing = signed.get(g)
    if (existing !== undefined) return existing
    const config = Decision.networkConfig(authority, { rackId, generation: g, blob: blobOf(g) })
    signed.set(g, config)
    return config
  }
  const context: Rules.Context = { authority: authority.publicKey, rackId }
  const key = (a: number, b: number) => (a < b ? `${a}-${b}` : `${b}-${a}`)
  const pick = <A>(candidates: ReadonlyArray<A>, s: number): A | undefined =>
    candidates.length === 0 ? undefined : candidates[s % candidates.length]
  const running = () => nodes.flatMap((n, i) => (n.running ? [i] : []))
  const at = (i: number): SimNode => {
    const n = nodes[i]
    if (n === undefined) throw new GossipViolation(`no node ${i}`)
    return n
  }
  const push = (from: number, to: number) => {
    const config = at(from).current
    if (config !== undefined) frames.push({ from, to, config })
  }
  const dropLink = (k: string) => {
    links.delete(k)
    frames = frames.filter((f) => key(f.from, f.to) !== k)
  }
  const adopt = (i: number, config: NetworkConfig, except: number | undefined) => {
    const n = at(i)
    n.persisted = config
    n.current = config
    for (const k of links) {
      const [a, b] = k.split("-").map(Number)
      const peer = a === i ? b : b === i ? a : undefined
      if (peer !== undefined && peer !== except) push(i, peer)
    }
  }
  /** A link comes up: each side pushes what it holds. */
  const linkUp = (a: number, b: number) => {
    if (a === b || links.has(key(a, b))) return
    links.add(key(a, b))
    push(a, b)
    push(b, a)
  }
  /** A node starts (late, or after a crash) from what it persisted. */
  const start = (i: number) => {
    const n = at(i)
    n.running = true
    n.current = n.persisted === undefined ? undefined : Result.getOrUndefined(Rules.restore(n.persisted, context))
  }
  const check = (what: string) => {
    events++
    for (const n of nodes) {
      const g = n.current?.generation ?? 0
      if (n.running && g < n.highWater) {
        throw new GossipViolation(`after ${what}: ${n.id} moved from generation ${n.highWater} down to ${g}`)
      }
      if (n.current !== undefined && signed.get(n.current.generation) !== n.current) {
        throw new GossipViolation(`after ${what}: ${n.id} holds a config the control plane never signed`)
      }
      n.highWater = Math.max(n.highWater, g)
    }
  }
  const receive = (f: Frame) => {
    const receipt = receiveRule(at(f.to).current, at(f.from).id, f.config, context)
    if (receipt._tag === "Adopt") {
      adopted++
      adopt(f.to, receipt.config, f.from)
    } else if (receipt._tag === "Refuse") refused++
  }

  const step = (action: GossipAction) => {
    switch (action._tag) {
      case "Update": {
        const i = pick(running(), action.sel)
        if (i === undefined) return
        const result = Rules.update(at(i).current, sign(action.generation), context)
        if (Result.isSuccess(result)) {
          accepted++
          highestAccepted = Math.max(highestAccepted, result.success.generation)
          adopt(i, result.success, undefined)
        }
        return
      }
      case "Deliver":
      case "Lose": {
        const index = frames.length === 0 ? undefined : action.sel % frames.length
        if (index === undefined) return
        const f = frames[index]
        if (f === undefined) return
        frames.splice(index, 1)
        if (action._tag === "Lose") return dropLink(key(f.from, f.to))
        return receive(f)
      }
      case "LinkUp": {
        const up = running()
        const a = pick(up, action.a)
        const b = pick(up, action.b)
        if (a !== undefined && b !== undefined) linkUp(a, b)
        return
      }
      case "LinkDown": {
        const k = pick(Array.from(links), action.sel)
        if (k !== undefined) dropLink(k)
        return
      }
      case "Crash": {
        const i = pick(running(), action.sel)
        if (i === undefined) return
        at(i).running = false
        at(i).current = undefined
        for (const k of Array.from(links)) if (k.split("-").map(Number).includes(i)) dropLink(k)
        return
      }
      case "Start": {
        const i = pick(
          nodes.flatMap((n, j) => (n.running ? [] : [j])),
          action.sel
        )
        if (i !== undefined) start(i)
        return
      }
      case "Forge": {
        const i = pick(running(), action.sel)
        if (i === undefined) return
        const g = action.generation + 20
        const forged = [
          Decision.networkConfig(forger, { rackId, generation: g, blob: blobOf(g) }),
          Decision.networkConfig(authority, { rackId: otherRack, generation: g, blob: blobOf(g) }),
          new NetworkConfig({ ...sign(action.generation), blob: blobOf(g) })
        ]
        for (const config of forged) {
          const receipt = receiveRule(at(i).current, attacker, config, context)
          if (receipt._tag !== "Refuse") {
            throw new GossipViolation(`${at(i).id} did not refuse a forged config (${receipt._tag})`)
          }
          refused++
        }
        return
      }
    }
  }

  for (const action of c.actions) {
    step(action)
    check(JSON.stringify(action))
  }

  // Liveness: every node runs, every pair is linked, every frame is delivered.
  for (const [i, n] of nodes.entries()) if (!n.running) start(i)
  check("starting every node")
  for (let a = 0; a < nodes.length; a++) for (let b = a + 1; b < nodes.length; b++) linkUp(a, b)
  check("linking every pair")
  let budget = 10_000
  while (frames.length > 0) {
    if (--budget === 0) throw new GossipViolation("gossip did not quiesce")
    const f = frames.shift()
    if (f !== undefined) receive(f)
    check("a liveness delivery")
  }
  for (const n of nodes) {
    const g = n.current?.generation ?? 0
    if (g !== highestAccepted) {
      throw new GossipViolation(`${n.id} ended at generation ${g}, not the highest accepted ${highestAccepted}`)
    }
  }
  return { events, accepted, adopted, refused, finalGeneration: highestAccepted }
}
