/**
 * A tiny in-test harness for protocol unit tests: a few protocol nodes, links between them, and a
 * FIFO "deliver everything" loop that follows the caller's contract (persist if dirty, then send).
 *
 * It is deliberately not a simulator (that one, with faults, reordering and invariants, lives in
 * src/testing): messages travel only over connected links, and a restart resumes from what was persisted.
 */
import { Option, Result } from "effect"
import type { RackSecret } from "../../src/crypto/RackSecret.ts"
import { shareDigest } from "../../src/crypto/ShareDigest.ts"
import type * as Gfss from "../../src/gfss/Gfss.ts"
import type { Rng } from "../../src/gfss/Rng.ts"
import { Node } from "../../src/protocol/Node.ts"
import type { Envelope } from "../../src/protocol/NodeCtx.ts"
import { seeded } from "../../src/testing/SeededRng.ts"
import * as TestAuthority from "../../src/testing/TestAuthority.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import { Configuration, type EncryptedRackSecrets } from "../../src/types/Configuration.ts"
import * as Decision from "../../src/types/Decision.ts"
import { PeerMsg, type PeerMsgKind } from "../../src/types/PeerMsg.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import type { ReconfigureMsg } from "../../src/types/Request.ts"

export const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"

/** The control plane's key in these tests; every node pins its public half. */
export const authority = TestAuthority.fromLabel("protocol tests")

/** A protocol node of the test rack. */
export const makeNode = (
  id: BaseboardId.BaseboardId,
  options: { readonly persistentState?: PersistentState.PersistentState; readonly rng?: Rng } = {}
): Node => new Node({ id, authority: authority.publicKey, ...options })

/** The control plane's commit signature over `config`. */
export const proofOf = (config: Configuration): Uint8Array => Decision.signCommit(authority, config)
export const otherRackId = "9999e456-789a-4bcd-8f01-23456789abcd"

/** The id of sled `i`. Serials sort bytewise, so sled 10 ranks before sled 2 — like the real racks. */
export const sled = (i: number): BaseboardId.BaseboardId => BaseboardId.make("913-0000019", String(i))

/** A peer message of this test rack. */
export const peerMsg = (kind: PeerMsgKind, rack: string = rackId): PeerMsg => new PeerMsg({ rackId: rack, kind })

export const unwrap = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(`unexpected failure: ${String(r.failure)}`)
  return r.success
}

export const failure = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) throw new Error("expected a failure")
  return r.failure
}

export const some = <A>(o: Option.Option<A>): A => {
  if (Option.isNone(o)) throw new Error("expected Some")
  return o.value
}

/** `[to, kind]` of each envelope: what a node wants sent, without the crypto payload. */
export const summary = (envelopes: ReadonlyArray<Envelope>): ReadonlyArray<readonly [string, string]> =>
  envelopes.map((e) => [e.to.serialNumber, e.msg.kind._tag] as const)

export interface EpochParams {
  readonly epoch: number
  readonly members: ReadonlyArray<number>
  readonly threshold: number
  readonly lastCommittedEpoch: number | null
}

/** The control plane's signed reconfiguration of `p`, for `coordinator` (a sled index or id). */
export const reconfigureMsg = (
  p: EpochParams,
  coordinator: number | BaseboardId.BaseboardId,
  rack: string = rackId
): ReconfigureMsg =>
  Decision.reconfigureMsg(authority, {
    rackId: rack,
    epoch: p.epoch,
    lastCommittedEpoch: p.lastCommittedEpoch,
    members: p.members.map(sled),
    threshold: p.threshold,
    coordinator: typeof coordinator === "number" ? sled(coordinator) : coordinator
  })

/** The control plane's signed reconfiguration of `p` for `coordinator`, as a configuration carries it. */
export const authorizationOf = (p: EpochParams, coordinator: number) => ({
  lastCommittedEpoch: p.lastCommittedEpoch,
  signature: reconfigureMsg(p, coordinator).signature
})

/** Asks `node` to coordinate `p`, signed for it. */
export const coordinate = (node: Node, p: EpochParams, rack: string = rackId) =>
  node.coordinateReconfiguration(reconfigureMsg(p, node.id, rack))

export class TestCluster {
  readonly #nodes = new Map<number, Node>()
  /** What each node last persisted (a restart resumes from here). */
  readonly #disks = new Map<number, PersistentState.PersistentState>()
  readonly #seed: string
  readonly #inFlight: Array<Envelope> = []
  #restarts = 0
  /** Every envelope delivered, in order. */
  readonly delivered: Array<Envelope> = []

  /** `count` nodes, fresh unless `states` gives node i a persisted state to start from. */
  constructor(
    count: number,
    seed: number | string = 1,
    states: ReadonlyMap<number, PersistentState.PersistentState> = new Map()
  ) {
    this.#seed = String(seed)
    for (let i = 0; i < count; i++) {
      const persistentState = states.get(i) ?? PersistentState.empty
      this.#disks.set(i, persistentState)
      this.#nodes.set(i, makeNode(sled(i), { persistentState, rng: seeded(`${seed}/${i}`) }))
    }
  }

  node(i: number): Node {
    const n = this.#nodes.get(i)
    if (n === undefined) throw new Error(`no node ${i}`)
    return n
  }

  /** The state node `i` last persisted. */
  disk(i: number): PersistentState.PersistentState {
    return this.#disks.get(i) ?? PersistentState.empty
  }

  connect(a: number, b: number): void {
    this.flush()
    this.node(a).onConnect(sled(b))
    this.node(b).onConnect(sled(a))
  }

  /** Connects every pair among `indexes` (all nodes by default). */
  connectAll(indexes: ReadonlyArray<number> = Array.from(this.#nodes.keys())): void {
    for (const a of indexes) for (const b of indexes) if (a < b) this.connect(a, b)
  }

  disconnect(a: number, b: number): void {
    this.node(a).onDisconnect(sled(b))
    this.node(b).onDisconnect(sled(a))
  }

  /** Cuts every link of node `i`. */
  isolate(i: number): void {
    for (const j of this.#nodes.keys()) if (j !== i) this.disconnect(i, j)
  }

  /** A crash and restart of node `i`: its links drop, and a new Node resumes from its persisted state. */
  restart(i: number): Node {
    this.flush()
    this.isolate(i)
    this.#restarts++
    const fresh = makeNode(sled(i), { persistentState: this.disk(i), rng: seeded(`${this.#seed}/r${this.#restarts}`) })
    this.#nodes.set(i, fresh)
    return fresh
  }

  /** Persists every dirty node and moves every node's outbox onto the network, in node order. */
  flush(): void {
    for (const [i, n] of this.#nodes) {
      if (n.ctx.persistentStateChangeCheckAndReset()) this.#disks.set(i, n.ctx.persistentState)
      this.#inFlight.push(...n.ctx.drainEnvelopes())
    }
  }

  /** Envelopes sent but not yet delivered. */
  get inFlight(): ReadonlyArray<Envelope> {
    this.flush()
    return this.#inFlight
  }

  /** Loses every envelope in flight (say, links that broke before delivery). */
  dropInFlight(): void {
    this.flush()
    this.#inFlight.length = 0
  }

  /**
   * Delivers envelopes (FIFO) over live links until no node has anything left to send; an envelope to a
   * node not connected to its sender is lost. Returns how many were delivered.
   */
  deliverAll(): number {
    this.flush()
    let count = 0
    for (let e = this.#inFlight.shift(); e !== undefined; e = this.#inFlight.shift()) {
      if (count > 100_000) throw new Error("deliverAll does not converge")
      const to = this.#nodes.get(Number(e.to.serialNumber))
      if (to?.ctx.isConnected(e.from)) {
        this.delivered.push(e)
        to.handle(e.from, e.msg)
        count++
      }
      this.flush()
    }
    return count
  }

  /** Reconfigures at `coordinator` and delivers everything; returns the coordinator's configuration. */
  prepareEpoch(coordinator: number, p: EpochParams): Configuration {
    unwrap(coordinate(this.node(coordinator), p))
    this.deliverAll()
    const status = this.node(coordinator).coordinatorStatus()
    if (status === undefined) throw new Error(`node ${coordinator} is not coordinating epoch ${p.epoch}`)
    return status.config
  }

  /** Reconfigures at `coordinator`, delivers, and commits at every member that acknowledged. */
  commitEpoch(coordinator: number, p: EpochParams): Configuration {
    const config = this.prepareEpoch(coordinator, p)
    const acked = this.node(coordinator).coordinating()?.ackedPrepares ?? []
    for (const id of acked)
      unwrap(this.node(Number(id.serialNumber)).commitConfiguration(rackId, p.epoch, this.proof(p.epoch)))
    this.deliverAll()
    return config
  }

  /** The control plane's commit signature over the configuration of `epoch` that the nodes hold. */
  proof(epoch: number): Uint8Array {
    for (const n of this.#nodes.values()) {
      const config = n.ctx.persistentState.configs.get(epoch)
      if (config !== undefined) return proofOf(config)
    }
    throw new Error(`no node holds a configuration for epoch ${epoch}`)
  }

  /** Loads `epoch` at each of `indexes`, delivering until all have it. */
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

/** A rack of `size` nodes with nodes 0..members-1 committed at epoch 1 (threshold `threshold`), all connected. */
export const committedRack = (
  options: { readonly size?: number; readonly members?: number; readonly threshold?: number } = {}
) => {
  const size = options.size ?? 4
  const members = Array.from({ length: options.members ?? 4 }, (_, i) => i)
  const c = new TestCluster(size)
  c.connectAll()
  const config = c.commitEpoch(0, {
    epoch: 1,
    members,
    threshold: options.threshold ?? 3,
    lastCommittedEpoch: null
  })
  return { c, config }
}

/**
 * A rack whose epoch-1 configuration is built by hand from the given shares (`shares[i]` belongs to
 * `members[i]`), committed at every member listed in `committed` (all by default), all nodes connected.
 * It lets a test feed the protocol what honest members never produce, to reach the alarms.
 */
export const craftedRack = (options: {
  readonly size: number
  readonly members: ReadonlyArray<number>
  readonly shares: ReadonlyArray<Gfss.Share>
  readonly threshold: number
  readonly encryptedRackSecrets?: EncryptedRackSecrets
  readonly committed?: ReadonlyArray<number>
}) => {
  const config = new Configuration({
    rackId,
    epoch: 1,
    coordinator: sled(options.members[0] ?? 0),
    members: BaseboardId.sortUnique(options.members.map(sled)).map((id) => {
      const share = options.shares[options.members.findIndex((m) => sled(m).key === id.key)]
      if (share === undefined) throw new Error(`no share for ${id}`)
      return { id, digest: shareDigest(share) }
    }),
    threshold: options.threshold,
    encryptedRackSecrets: Option.fromNullishOr(options.encryptedRackSecrets),
    authorization: authorizationOf(
      { epoch: 1, members: options.members, threshold: options.threshold, lastCommittedEpoch: null },
      options.members[0] ?? 0
    )
  })
  const states = new Map<number, PersistentState.PersistentState>()
  for (const m of options.committed ?? options.members) {
    const share = options.shares[options.members.indexOf(m)]
    if (share === undefined) throw new Error(`no share for ${m}`)
    states.set(
      m,
      PersistentState.update(PersistentState.empty, (d) => {
        d.configs.set(1, config)
        d.shares.set(1, share)
        d.commits.add(1)
        d.proofs.set(1, proofOf(config))
      })
    )
  }
  const c = new TestCluster(options.size, "crafted", states)
  c.connectAll()
  return { c, config }
}
