/**
 * A tiny in-test harness for protocol unit tests: protocol nodes, full or partial connectivity, and a
 * FIFO "deliver everything" loop. (The real, fault-injecting simulator lives in src/testing.)
 */
import { Option, Result } from "effect"
import type { RackSecret } from "../../src/crypto/RackSecret.ts"
import { Node } from "../../src/protocol/Node.ts"
import type { Envelope } from "../../src/protocol/NodeCtx.ts"
import { seeded } from "../../src/testing/SeededRng.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import type { Configuration } from "../../src/types/Configuration.ts"
import { ReconfigureMsg } from "../../src/types/Request.ts"

export const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
export const sled = (i: number) => BaseboardId.make("913-0000019", String(i))

export const unwrap = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(`unexpected failure: ${String(r.failure)}`)
  return r.success
}

export const failure = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) throw new Error("expected a failure")
  return r.failure
}

export class Cluster {
  readonly nodes = new Map<string, Node>()
  readonly delivered: Array<Envelope> = []

  constructor(count: number, seed = 1) {
    for (let i = 0; i < count; i++) {
      const id = sled(i)
      this.nodes.set(id.key, new Node({ id, rng: seeded(`${seed}/${i}`) }))
    }
  }

  node(i: number): Node {
    const n = this.nodes.get(sled(i).key)
    if (!n) throw new Error(`no node ${i}`)
    return n
  }

  /** Replaces node i by a fresh Node over the same persistent state (a restart: memory is lost). */
  restart(i: number, seed = 99): Node {
    const old = this.node(i)
    for (const other of this.nodes.values()) if (other !== old) other.onDisconnect(old.id)
    const fresh = new Node({ id: old.id, persistentState: old.ctx.persistentState, rng: seeded(`restart/${seed}`) })
    this.nodes.set(old.id.key, fresh)
    return fresh
  }

  connect(a: number, b: number): void {
    this.node(a).onConnect(sled(b))
    this.node(b).onConnect(sled(a))
  }

  connectAll(indexes: ReadonlyArray<number> = Array.from(this.nodes.keys(), (_, i) => i)): void {
    for (const a of indexes) for (const b of indexes) if (a < b) this.connect(a, b)
  }

  disconnect(a: number, b: number): void {
    this.node(a).onDisconnect(sled(b))
    this.node(b).onDisconnect(sled(a))
  }

  /** Delivers queued envelopes (FIFO) between connected nodes until none are left; returns how many. */
  deliverAll(): number {
    let count = 0
    for (let round = 0; round < 10_000; round++) {
      const pending: Array<Envelope> = []
      for (const n of this.nodes.values()) {
        n.ctx.persistentStateChangeCheckAndReset()
        pending.push(...n.ctx.drainEnvelopes())
      }
      if (pending.length === 0) return count
      for (const e of pending) {
        const to = this.nodes.get(e.to.key)
        if (to === undefined || !to.ctx.isConnected(e.from)) continue
        this.delivered.push(e)
        to.handle(e.from, e.msg)
        count++
      }
    }
    throw new Error("deliverAll did not converge")
  }

  reconfigureMsg(options: {
    readonly epoch: number
    readonly members: ReadonlyArray<number>
    readonly threshold: number
    readonly lastCommittedEpoch: number | null
  }): ReconfigureMsg {
    return new ReconfigureMsg({
      rackId,
      epoch: options.epoch,
      lastCommittedEpoch: options.lastCommittedEpoch,
      members: options.members.map(sled),
      threshold: options.threshold
    })
  }

  /** Reconfigures at `coordinator`, delivers, commits every member that acked, and returns the config. */
  commitEpoch(options: {
    readonly coordinator: number
    readonly epoch: number
    readonly members: ReadonlyArray<number>
    readonly threshold: number
    readonly lastCommittedEpoch: number | null
  }): Configuration {
    unwrap(this.node(options.coordinator).coordinateReconfiguration(this.reconfigureMsg(options)))
    this.deliverAll()
    const status = this.node(options.coordinator).coordinatorStatus()
    if (status === undefined) throw new Error("not coordinating")
    for (const id of status.ackedPrepares) {
      const n = this.nodes.get(id.key)
      if (n) unwrap(n.commitConfiguration(rackId, options.epoch))
    }
    return status.config
  }

  /** Loads `epoch` at each of `indexes`, delivering until every one has it. */
  loadEverywhere(indexes: ReadonlyArray<number>, epoch: number): ReadonlyArray<RackSecret> {
    for (const i of indexes) unwrap(this.node(i).loadRackSecret(epoch))
    this.deliverAll()
    return indexes.map((i) => {
      const loaded = unwrap(this.node(i).loadRackSecret(epoch))
      if (Option.isNone(loaded)) throw new Error(`node ${i} did not load epoch ${epoch}`)
      return loaded.value
    })
  }
}
