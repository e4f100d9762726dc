/**
 * A deterministic rack for testing control planes: protocol nodes over a simulated network, exposed
 * through the same `MemberClient` interface the control-plane driver uses against real nodes. Every
 * call follows the runtime's contract (persist if dirty, reply, send) and then delivers every message
 * in flight, so a driver runs against real protocol behaviour with no sockets, files or timers; nodes can
 * crash (in-memory state lost, links dropped) and restart from what they persisted. Its nodes pin the
 * public half of `authority`: drive it with a `Reconfigurator` that holds that key.
 */
import { Effect, Option, Result } from "effect"
import type { CallFailure, MemberClient } from "../control/MemberClient.ts"
import type { PublicKey } from "../crypto/AuthorityKey.ts"
import type { RackSecret } from "../crypto/RackSecret.ts"
import { Node } from "../protocol/Node.ts"
import type { Envelope } from "../protocol/NodeCtx.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as PersistentState from "../types/PersistentState.ts"
import { seeded } from "./SeededRng.ts"

interface Member {
  readonly id: BaseboardId
  node: Node
  disk: PersistentState.PersistentState
  alive: boolean
  restarts: number
}

const failure = (tag: string, message: string): CallFailure => ({ _tag: tag, message })

/** A simulated rack of fully connected protocol nodes. */
export class SimulatedRack {
  readonly #members = new Map<string, Member>()
  readonly #seed: string
  readonly #authority: PublicKey
  #inFlight: Array<Envelope> = []

  constructor(ids: ReadonlyArray<BaseboardId>, authority: PublicKey, seed: string | number = 1) {
    this.#seed = String(seed)
    this.#authority = authority
    for (const id of ids) {
      this.#members.set(id.key, {
        id,
        node: new Node({ id, authority, rng: seeded(`${this.#seed}/${id.key}/0`) }),
        disk: PersistentState.empty,
        alive: true,
        restarts: 0
      })
    }
    for (const a of this.#members.values()) for (const b of this.#members.values()) if (a !== b) a.node.onConnect(b.id)
  }

  /** The protocol node of `id` (for assertions). */
  node(id: BaseboardId): Node | undefined {
    return this.#members.get(id.key)?.node
  }

  /** Persist if dirty, then queue the node's messages; deliver everything in flight (FIFO) until quiet. */
  #settle(m: Member): void {
    if (m.node.ctx.persistentStateChangeCheckAndReset()) m.disk = m.node.ctx.persistentState
    this.#inFlight.push(...m.node.ctx.drainEnvelopes())
    for (let guard = 0; this.#inFlight.length > 0; guard++) {
      if (guard > 1_000_000) throw new Error("the simulated network does not quiesce")
      const [e, ...rest] = this.#inFlight
      this.#inFlight = rest
      const to = e === undefined ? undefined : this.#members.get(e.to.key)
      const from = e === undefined ? undefined : this.#members.get(e.from.key)
      if (e === undefined || to === undefined || !to.alive || from === undefined || !from.alive) continue
      to.node.handle(e.from, e.msg)
      if (to.node.ctx.persistentStateChangeCheckAndReset()) to.disk = to.node.ctx.persistentState
      this.#inFlight.push(...to.node.ctx.drainEnvelopes())
    }
  }

  /** Runs `f` on a live member's node, then settles the network. */
  #call<A, E extends { readonly _tag: string; readonly message: string }>(
    id: BaseboardId,
    f: (node: Node) => Result.Result<A, E>
  ): Effect.Effect<A, CallFailure> {
    return Effect.suspend(() => {
      const m = this.#members.get(id.key)
      if (m === undefined || !m.alive) return Effect.fail(failure("Disconnected", `${id} is down`))
      const result = f(m.node)
      this.#settle(m)
      return Result.isSuccess(result)
        ? Effect.succeed(result.success)
        : Effect.fail(failure(result.failure._tag, result.failure.message))
    })
  }

  /** A crash: the node's memory (coordinator state, loaded secrets) is lost and its links drop. */
  crash(id: BaseboardId): void {
    const m = this.#members.get(id.key)
    if (m === undefined) return
    m.alive = false
    for (const other of this.#members.values()) if (other !== m) other.node.onDisconnect(id)
  }

  /** A restart from what the node persisted; it reconnects to every live member. */
  restart(id: BaseboardId): void {
    const m = this.#members.get(id.key)
    if (m === undefined) return
    m.restarts++
    m.node = new Node({
      id,
      authority: this.#authority,
      persistentState: m.disk,
      rng: seeded(`${this.#seed}/${id.key}/${m.restarts}`)
    })
    m.alive = true
    for (const other of this.#members.values()) {
      if (other === m || !other.alive) continue
      m.node.onConnect(other.id)
      other.node.onConnect(id)
      this.#settle(other)
    }
    this.#settle(m)
  }

  /** Loads the latest secret at a member (polling until loaded); none if it cannot. */
  loadLatest(id: BaseboardId): Option.Option<RackSecret> {
    const m = this.#members.get(id.key)
    if (m === undefined || !m.alive) return Option.none()
    for (let i = 0; i < 3; i++) {
      const r = m.node.loadLatestRackSecret()
      this.#settle(m)
      if (Result.isSuccess(r) && Option.isSome(r.success)) return Option.some(r.success.value.secret)
    }
    return Option.none()
  }

  /** The driver's view of member `id`: its API, with proxy operations that run at the destination. */
  client(id: BaseboardId): MemberClient {
    const proxied = <A, E extends { readonly _tag: string; readonly message: string }>(
      destination: BaseboardId,
      f: (node: Node) => Result.Result<A, E>
    ): Effect.Effect<A, CallFailure> => {
      const owner = this.#members.get(id.key)
      if (owner === undefined || !owner.alive || !owner.node.ctx.isConnected(destination)) {
        return Effect.fail(failure("Disconnected", `${destination} is not connected to ${id}`))
      }
      return this.#call(destination, f)
    }
    return {
      reconfigure: (msg) => this.#call(id, (n) => n.coordinateReconfiguration(msg)),
      coordinatorStatus: this.#call(id, (n) => Result.succeed(Option.fromNullishOr(n.coordinatorStatus()))),
      commit: (rackId, epoch, proof) => this.#call(id, (n) => n.commitConfiguration(rackId, epoch, proof)),
      prepareAndCommit: (config, proof) => this.#call(id, (n) => n.prepareAndCommit(config, proof)),
      proxyCommit: (destination, rackId, epoch, proof) =>
        proxied(destination, (n) => n.commitConfiguration(rackId, epoch, proof)),
      proxyPrepareAndCommit: (destination, config, proof) =>
        proxied(destination, (n) => n.prepareAndCommit(config, proof))
    }
  }
}
