/**
 * A deterministic simulation of a whole rack over the pure protocol: a universe of 16 nodes, a
 * bootstrap network that reorders (last in, first out per destination), crashes and restarts, and a
 * simulated control plane. Every action is applied with the runtime's contract — persist if dirty,
 * then hand the envelopes to the network — and after every event the invariants of the original's
 * property test are checked on every live node. `finish` runs the liveness phase: everyone restarts,
 * the network drains, the latest configuration completes, and every member loads the same secret.
 *
 * With an adversary profile one node is Byzantine (see `Adversary`): it runs the honest node for its
 * own role and forges, replays and oversizes messages while the honest control plane reconfigures,
 * which never picks it as the coordinator of a new epoch. The invariants then hold for the honest
 * nodes, and more are checked: every commit carries the control plane's signature, a committed share
 * never changes, only a removed member is expunged, and the adversary never holds K genuine shares of
 * an epoch but as a member of a committed one.
 *
 * Randomness comes only from seeded generators derived from the case's seed, so a case replays
 * byte for byte from its seed, first configuration, adversary profile and action list (see `EventLog`).
 */
import { Option, Result } from "effect"
import type { RackSecret } from "../crypto/RackSecret.ts"
import { shareDigest } from "../crypto/ShareDigest.ts"
import type { Rng } from "../gfss/Rng.ts"
import { Node } from "../protocol/Node.ts"
import type { Envelope } from "../protocol/NodeCtx.ts"
import type { Check } from "../protocol/Policy.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as BaseboardIdModule from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import * as ConfigurationModule from "../types/Configuration.ts"
import * as Decision from "../types/Decision.ts"
import type { Epoch } from "../types/Epoch.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type { ReconfigureMsg } from "../types/Request.ts"
import { digestEquals, type Share } from "../types/Share.ts"
import type { CommitStatus } from "../types/Status.ts"
import { Adversary, type Attack } from "./Adversary.ts"
import { type Action, type AdversaryProfile, type InitialConfig, pick } from "./Case.ts"
import { Nexus, type NexusConfig } from "./Nexus.ts"
import { seeded } from "./SeededRng.ts"
import * as TestAuthority from "./TestAuthority.ts"

/** The rack id of every simulated rack. */
export const simRackId = "5e1f0000-0000-4000-8000-000000000001"

/** An invariant or postcondition failed. */
export class InvariantViolation extends Error {
  readonly invariant: string
  constructor(invariant: string, detail: string) {
    super(`${invariant}: ${detail}`)
    this.invariant = invariant
  }
}

interface SimNode {
  readonly id: BaseboardId
  readonly index: number
  node: Node
  /** What survives a crash. */
  disk: PersistentState.PersistentState
  alive: boolean
  restarts: number
}

/** Options of a simulation run. */
export interface SimulationOptions {
  readonly seed: number
  readonly universeSize?: number
  /**
   * Test hook for mutation testing: when false, a node's state reaches its disk only at its *next*
   * event, so messages can leave before the state that produced them is durable (a deliberate bug).
   */
  readonly persistBeforeSend?: boolean
  /** A Byzantine node of this profile; none by default. */
  readonly adversary?: AdversaryProfile
  /** Authority checks switched off on the honest nodes: mutation testing of the adversarial simulation only. */
  readonly unsafeSkipChecks?: ReadonlySet<Check>
}

/** Counters of a run. */
export interface SimulationStats {
  events: number
  skipped: number
  invariantChecks: number
  messagesDelivered: number
  crashes: number
  restarts: number
  commits: number
  secretsLoaded: number
}

/** Counters all at zero. */
export const emptyStats = (): SimulationStats => ({
  events: 0,
  skipped: 0,
  invariantChecks: 0,
  messagesDelivered: 0,
  crashes: 0,
  restarts: 0,
  commits: 0,
  secretsLoaded: 0
})

const check = (condition: boolean, invariant: string, detail: () => string): void => {
  if (!condition) throw new InvariantViolation(invariant, detail())
}

/** A simulated rack. */
export class Simulation {
  readonly universe: ReadonlyArray<BaseboardId>
  readonly nexus: Nexus
  readonly stats: SimulationStats = emptyStats()
  readonly #nodes = new Map<string, SimNode>()
  /** Destination key → envelopes in the order they were sent. */
  readonly #network = new Map<string, Array<Envelope>>()
  /** Every configuration a coordinator ever persisted, by epoch. */
  readonly #coordinated = new Map<Epoch, Configuration>()
  readonly #seed: number
  readonly #persistBeforeSend: boolean
  readonly #unsafeSkipChecks: ReadonlySet<Check>
  /** The Byzantine node, if this run has one. */
  readonly adversary: Adversary | undefined
  /** Commits already verified against the control plane's key, by node and epoch (verification is costly). */
  readonly #verifiedCommits = new Map<string, { readonly config: Configuration; readonly proof: Uint8Array }>()
  /** Each honest node's committed share as first seen, by node and epoch. */
  readonly #committedShares = new Map<string, Share>()

  constructor(options: SimulationOptions) {
    this.#seed = options.seed
    this.#persistBeforeSend = options.persistBeforeSend ?? true
    this.#unsafeSkipChecks = options.unsafeSkipChecks ?? new Set()
    this.nexus = new Nexus(TestAuthority.fromLabel(`simulation/${options.seed}`))
    // Serials "0".."15": bytewise order is 0, 1, 10, 11, …, 15, 2, …, 9.
    this.universe = BaseboardIdModule.sortUnique(
      Array.from({ length: options.universeSize ?? 16 }, (_, i) => BaseboardIdModule.make("913-0000019", String(i)))
    )
    // An outsider is the node the control plane would add last; a (removed) member is in the first configuration.
    const profile = options.adversary
    const adversaryId =
      profile === undefined ? undefined : this.universe[profile === "Outsider" ? this.universe.length - 1 : 0]
    this.adversary =
      profile === undefined || adversaryId === undefined
        ? undefined
        : new Adversary(adversaryId, profile, simRackId, seeded(`${this.#seed}/adversary`))
    this.universe.forEach((id, index) => {
      this.#nodes.set(id.key, {
        id,
        index,
        node: this.#newNode(id, PersistentState.empty, seeded(`${this.#seed}/${index}/0`)),
        disk: PersistentState.empty,
        alive: true,
        restarts: 0
      })
    })
    for (const a of this.#nodes.values()) for (const b of this.#nodes.values()) if (a !== b) a.node.onConnect(b.id)
  }

  node(id: BaseboardId): Node | undefined {
    return this.#nodes.get(id.key)?.node
  }

  isAlive(id: BaseboardId): boolean {
    return this.#nodes.get(id.key)?.alive ?? false
  }

  /** Envelopes waiting in the bootstrap network. */
  get inFlight(): number {
    let n = 0
    for (const q of this.#network.values()) n += q.length
    return n
  }

  /** A short summary of every node, for replay output. */
  describe(): ReadonlyArray<string> {
    return Array.from(this.#nodes.values(), (s) => {
      const st = PersistentState.summary(s.node.ctx.persistentState)
      const c = s.node.coordinating()
      return [
        `${s.id.toString().padEnd(16)} ${s.alive ? "up  " : "DOWN"}`,
        `configs=[${st.configs}] shares=[${st.shares}] commits=[${st.commits}]`,
        st.expunged ? `expunged@${st.expunged.epoch}` : "",
        c ? `coordinating ${c.epoch}/${c.op} acks=${c.ackedPrepares.length}` : "",
        s.node.isComputingKeyShare() ? `computing ${s.node.keyShareComputerEpoch()}` : "",
        `outbox=${this.#network.get(s.id.key)?.length ?? 0}`,
        this.#isAdversary(s.id) ? "BYZANTINE" : ""
      ]
        .filter((x) => x !== "")
        .join(" ")
    })
  }

  // ---- the runtime contract ----------------------------------------------------------------------

  /** After a node call: persist if dirty, then put its envelopes on the network. */
  #afterCall(s: SimNode): void {
    if (this.#persistBeforeSend) {
      if (s.node.ctx.persistentStateChangeCheckAndReset()) s.disk = s.node.ctx.persistentState
    } else {
      // The mutation: last event's state becomes durable only now; this event's only at the next call.
      s.disk = this.#pendingDisk.get(s.id.key) ?? s.disk
      if (s.node.ctx.persistentStateChangeCheckAndReset()) this.#pendingDisk.set(s.id.key, s.node.ctx.persistentState)
    }
    for (const e of s.node.ctx.drainEnvelopes()) {
      const to = this.#nodes.get(e.to.key)
      if (to === undefined || !to.alive) continue
      const q = this.#network.get(e.to.key) ?? []
      q.push(e)
      this.#network.set(e.to.key, q)
    }
    this.#recordCoordinated(s)
  }

  readonly #pendingDisk = new Map<string, PersistentState.PersistentState>()

  #recordCoordinated(s: SimNode): void {
    for (const [epoch, config] of s.node.ctx.persistentState.configs) {
      if (this.#coordinated.has(epoch)) continue
      check(
        BaseboardIdModule.equals(config.coordinator, s.id),
        "FirstPersisterIsCoordinator",
        () => `${s.id} persisted epoch ${epoch} first, but its coordinator is ${config.coordinator}`
      )
      this.#coordinated.set(epoch, config)
    }
  }

  #live(): ReadonlyArray<SimNode> {
    return Array.from(this.#nodes.values()).filter((s) => s.alive)
  }

  #sim(id: BaseboardId): SimNode | undefined {
    return this.#nodes.get(id.key)
  }

  // ---- control plane -----------------------------------------------------------------------------

  /** Starts the first configuration: the first `members` nodes of the universe. */
  start(initial: InitialConfig): void {
    this.#reconfigure({
      numAdded: initial.members,
      removed: [],
      threshold: initial.threshold,
      coordinator: initial.coordinator
    })
    this.checkInvariants()
  }

  #reconfigure(a: {
    numAdded: number
    removed: ReadonlyArray<number>
    threshold: number
    coordinator: number
  }): boolean {
    const latest = this.nexus.latest
    if (latest?.op === "Preparing") latest.op = "Aborted"
    const last = this.nexus.lastCommitted
    let members: Array<BaseboardId>
    let coordinator: BaseboardId | undefined
    const adversary = this.adversary
    // The control plane never adds an outsider adversary.
    const eligible = this.universe.filter((id) => adversary?.profile !== "Outsider" || !this.#isAdversary(id))
    if (last === undefined) {
      if (a.numAdded < 3) return false
      members = eligible.slice(0, a.numAdded)
      // A (removed) member adversary coordinates the very first configuration, honestly; never a later one.
      const first = this.nexus.latest === undefined && adversary !== undefined && members.includes(adversary.id)
      coordinator = first
        ? adversary?.id
        : pick(
            members.filter((m) => !this.#isAdversary(m)),
            a.coordinator
          )
    } else {
      const committedMembers = last.members.filter((m) => last.committed.has(m.key) && !this.#isAdversary(m))
      coordinator = pick(committedMembers, a.coordinator)
      if (coordinator === undefined) return false
      const lastSize = last.members.length
      const add = Math.max(0, Math.min(a.numAdded, 12 - lastSize, 16 - lastSize - this.nexus.expunged.size))
      const current = new Set(last.members.map((m) => m.key))
      const added = eligible.filter((id) => !current.has(id.key) && !this.nexus.expunged.has(id.key)).slice(0, add)
      members = [...last.members, ...added]
      // A removed adversary leaves at the first reconfiguration after a commit; a member one is never removed.
      if (adversary?.profile === "Removed") members = members.filter((m) => !this.#isAdversary(m))
      const removable = Math.max(0, members.length - 3)
      for (const r of a.removed.slice(0, removable)) {
        const candidates = members.filter(
          (m) => (coordinator === undefined || !BaseboardIdModule.equals(m, coordinator)) && !this.#isAdversary(m)
        )
        const victim = pick(candidates, r)
        if (victim !== undefined) members = members.filter((m) => !BaseboardIdModule.equals(m, victim))
      }
      if (members.length < 3) return false
    }
    if (coordinator === undefined) return false
    const n = members.length
    const threshold = 2 + (a.threshold % (n - 2))
    const entry = this.nexus.record({
      epoch: this.nexus.nextEpoch,
      lastCommittedEpoch: last?.epoch ?? null,
      coordinator,
      members: BaseboardIdModule.sortUnique(members),
      threshold
    })
    const s = this.#sim(coordinator)
    if (s === undefined || !s.alive) {
      entry.op = "Aborted"
      return true
    }
    const result = s.node.coordinateReconfiguration(this.#reconfigureMsg(entry))
    check(
      Result.isSuccess(result),
      "ReconfigureAccepted",
      () =>
        `coordinator ${coordinator} refused epoch ${entry.epoch}: ${Result.isFailure(result) ? result.failure._tag : ""}`
    )
    this.#afterCall(s)
    return true
  }

  #reconfigureMsg(c: NexusConfig): ReconfigureMsg {
    return Decision.reconfigureMsg(this.nexus.authority, { rackId: simRackId, ...c })
  }

  /** A node of this rack: it pins the control plane's public key (honest ones skip the checks of a mutation test). */
  #newNode(id: BaseboardId, persistentState: PersistentState.PersistentState, rng: Rng): Node {
    const unsafeSkipChecks = this.#isAdversary(id) ? new Set<Check>() : this.#unsafeSkipChecks
    return new Node({ id, authority: this.nexus.authority.publicKey, persistentState, rng, unsafeSkipChecks })
  }

  #isAdversary(id: BaseboardId): boolean {
    return this.adversary !== undefined && BaseboardIdModule.equals(id, this.adversary.id)
  }

  /** The live nodes other than the adversary. */
  #honest(): ReadonlyArray<SimNode> {
    return this.#live().filter((s) => !this.#isAdversary(s.id))
  }

  /** The control plane's commit of `c`: the configuration the coordinator reported, or any member's copy. */
  #commitOf(c: NexusConfig): { readonly config: Configuration; readonly proof: Uint8Array } {
    const config =
      c.config ??
      this.#members(c)
        .map((s) => s.node.ctx.persistentState.configs.get(c.epoch))
        .find((x) => x !== undefined)
    if (config === undefined)
      throw new InvariantViolation("Liveness", `no member holds the configuration of ${c.epoch}`)
    return { config, proof: Decision.signCommit(this.nexus.authority, config) }
  }

  // ---- actions -----------------------------------------------------------------------------------

  /** Applies one action; returns false when it turned out to be a no-op. */
  apply(action: Action): boolean {
    const applied = this.#apply(action)
    this.stats.events++
    if (!applied) this.stats.skipped++
    this.checkInvariants()
    return applied
  }

  #apply(action: Action): boolean {
    switch (action._tag) {
      case "Deliver":
        return this.#deliver(action.sel)
      case "LoadLatestRackSecret": {
        const last = this.nexus.lastCommitted
        if (last === undefined) return false
        const s = pick(this.#liveMembers(last), action.sel)
        if (s === undefined) return false
        this.#load(s, last.epoch)
        return true
      }
      case "LoadRackSecret": {
        const committed = Array.from(this.nexus.configs.values()).filter((c) => c.op === "Committed")
        const c = pick(committed, action.config)
        if (c === undefined || this.#liveMembers(c).length === 0) return false
        const id = pick(c.members, action.id)
        const s = id === undefined ? undefined : this.#sim(id)
        if (s === undefined || !s.alive) return false
        this.#load(s, c.epoch)
        return true
      }
      case "ClearSecrets": {
        const last = this.nexus.lastCommitted
        const s = last === undefined ? undefined : pick(this.#liveMembers(last), action.sel)
        if (s === undefined) return false
        s.node.clearSecrets()
        this.#afterCall(s)
        return true
      }
      case "PollPrepareAcks":
        return this.#pollPrepareAcks()
      case "Commit":
        return this.#commit(action.sel)
      case "DeliverNexusReply": {
        const reply = this.nexus.replies.pop()
        if (reply === undefined) return false
        this.nexus.receive(reply)
        return true
      }
      case "Reconfigure":
        return this.#reconfigure(action)
      case "Crash":
        return this.#crash(action.sel)
      case "Restart": {
        const crashed = Array.from(this.#nodes.values()).filter((s) => !s.alive)
        const s = pick(crashed, action.sel)
        if (s === undefined) return false
        this.#restart(s, action.order)
        return true
      }
      case "Forge":
      case "Replay":
        return this.#attack(action)
    }
  }

  /**
   * The adversary forges or replays one message, or makes one proxied call, aimed at a live honest node.
   * It acts only while alive and while the control plane's latest epoch is not one it coordinates (it
   * coordinated honestly); a removed member only once the control plane's latest configuration leaves it out.
   */
  #attack(action: Extract<Action, { readonly _tag: "Forge" | "Replay" }>): boolean {
    const adversary = this.adversary
    const self = adversary === undefined ? undefined : this.#sim(adversary.id)
    if (adversary === undefined || self === undefined || !self.alive) return false
    const latest = this.nexus.latest
    if (latest !== undefined && this.#isAdversary(latest.coordinator)) return false
    if (adversary.profile === "Removed" && latest?.members.some((m) => this.#isAdversary(m)) !== false) return false
    const targets = this.#honest().map((s) => s.id)
    const attacks =
      action._tag === "Replay"
        ? adversary.replay(action.sel, action.to, targets)
        : adversary.forge(action.forgery, action.sel, action.variant, action.to, targets, self.node.ctx.persistentState)
    for (const attack of attacks) this.#strike(adversary.id, attack)
    return attacks.length > 0
  }

  /** Delivers one attack: onto the target's link, or as a proxied call run at the target. */
  #strike(from: BaseboardId, attack: Attack): void {
    const target = this.#sim(attack.to)
    if (target === undefined || !target.alive) return
    switch (attack._tag) {
      case "Send": {
        const q = this.#network.get(attack.to.key) ?? []
        q.push({ to: attack.to, from, msg: attack.msg })
        this.#network.set(attack.to.key, q)
        return
      }
      case "Commit":
        target.node.commitConfiguration(simRackId, attack.epoch, attack.proof)
        break
      case "PrepareAndCommit":
        target.node.prepareAndCommit(attack.config, attack.proof)
        break
    }
    this.#afterCall(target)
  }

  #liveMembers(c: NexusConfig): ReadonlyArray<SimNode> {
    return c.members.map((m) => this.#sim(m)).filter((s): s is SimNode => s?.alive === true)
  }

  #deliver(sel: number): boolean {
    const destinations = Array.from(this.#network.entries()).filter(([, q]) => q.length > 0)
    const chosen = pick(destinations, sel)
    if (chosen === undefined) return false
    const [key, queue] = chosen
    const envelope = queue.pop()
    const to = this.#nodes.get(key)
    if (envelope === undefined || to === undefined) return false
    if (!to.alive || !this.isAlive(envelope.from)) return true
    this.#handle(to, envelope)
    return true
  }

  /** Hands `envelope` to the live node `to`; the adversary also learns what it receives. */
  #handle(to: SimNode, envelope: Envelope): void {
    if (this.#isAdversary(to.id)) this.adversary?.observe(envelope.msg, (epoch) => this.#coordinated.get(epoch))
    to.node.handle(envelope.from, envelope.msg)
    this.stats.messagesDelivered++
    this.#afterCall(to)
  }

  #load(s: SimNode, epoch: Epoch): void {
    const result = s.node.loadRackSecret(epoch)
    this.#afterCall(s)
    const committed = PersistentState.latestCommittedEpoch(s.node.ctx.persistentState)
    if (Result.isSuccess(result)) {
      if (Option.isNone(result.success)) {
        check(
          s.node.isCollectingSharesForRackSecret(epoch),
          "LoadPending",
          () => `${s.id} returned none for ${epoch} but is not collecting`
        )
      } else {
        this.stats.secretsLoaded++
        check(
          committed !== undefined && committed >= epoch,
          "LoadedCommitted",
          () => `${s.id} loaded uncommitted ${epoch}`
        )
      }
      return
    }
    const e = result.failure
    const state = s.node.ctx.persistentState
    const expected = {
      NoCommittedConfigurations: committed === undefined,
      NotCommitted: e._tag === "NotCommitted" && !state.commits.has(e.epoch),
      NotAvailable: e._tag === "NotAvailable" && committed !== undefined && committed > e.epoch,
      Alarm: false
    }[e._tag]
    check(
      expected,
      e._tag === "Alarm" ? "NoAlarms" : "LoadError",
      () => `${s.id}: load of ${epoch} failed with ${e._tag}`
    )
  }

  #pollPrepareAcks(): boolean {
    const latest = this.nexus.latest
    if (latest === undefined || latest.op !== "Preparing") return false
    const s = this.#sim(latest.coordinator)
    if (s === undefined || !s.alive) {
      latest.op = "Aborted"
      return true
    }
    if (PersistentState.latestConfig(s.node.ctx.persistentState)?.epoch !== latest.epoch) return false
    const status = s.node.coordinatorStatus()
    check(
      status !== undefined && status.config.epoch === latest.epoch,
      "CoordinatorStillCoordinating",
      () => `${s.id} persisted epoch ${latest.epoch} but is not coordinating it`
    )
    if (status === undefined) return false
    this.nexus.replies.push({
      _tag: "AckedPrepares",
      epoch: latest.epoch,
      acks: status.ackedPrepares.map((id) => id.key),
      config: status.config
    })
    return true
  }

  #commit(sel: number): boolean {
    const latest = this.nexus.latest
    if (latest === undefined || latest.op !== "Committed" || latest.config === undefined) return false
    const candidates = this.#liveMembers(latest).filter((s) => !latest.committed.has(s.id.key))
    const s = pick(candidates, sel)
    if (s === undefined) return false
    const prepared = latest.prepared.has(s.id.key)
    // Commit to members that acknowledged the prepare; PrepareAndCommit to the rest.
    const proof = Decision.signCommit(this.nexus.authority, latest.config)
    const result: Result.Result<CommitStatus, { readonly _tag: string }> = prepared
      ? s.node.commitConfiguration(simRackId, latest.epoch, proof)
      : s.node.prepareAndCommit(latest.config, proof)
    this.#afterCall(s)
    check(
      Result.isSuccess(result),
      "CommitAccepted",
      () =>
        `${s.id} refused ${prepared ? "commit" : "prepareAndCommit"} of ${latest.epoch}: ${Result.isFailure(result) ? result.failure._tag : ""}`
    )
    if (Result.isSuccess(result) && result.success === "Committed") {
      this.stats.commits++
      this.nexus.replies.push({ _tag: "CommitAck", epoch: latest.epoch, id: s.id.key })
    }
    return true
  }

  #crash(sel: number): boolean {
    const s = pick(this.#live(), sel)
    if (s === undefined) return false
    s.alive = false
    this.stats.crashes++
    // In-flight messages to and from a crashed node die with its connections.
    this.#network.delete(s.id.key)
    for (const q of this.#network.values()) {
      for (let i = q.length - 1; i >= 0; i--) if (BaseboardIdModule.equals(q[i]?.from ?? s.id, s.id)) q.splice(i, 1)
    }
    this.#pendingDisk.delete(s.id.key)
    for (const other of this.#live()) {
      other.node.onDisconnect(s.id)
      this.#afterCall(other)
    }
    const latest = this.nexus.latest
    if (latest?.op === "Preparing" && BaseboardIdModule.equals(latest.coordinator, s.id)) latest.op = "Aborted"
    return true
  }

  #restart(s: SimNode, order: number): void {
    s.restarts++
    this.stats.restarts++
    s.node = this.#newNode(s.id, s.disk, seeded(`${this.#seed}/${s.index}/${s.restarts}`))
    s.alive = true
    const peers = this.#live().filter((p) => p !== s)
    // A deterministic permutation of the peers, chosen by `order`.
    const rotated = peers.map((_, i) => peers[(i + order) % peers.length]).filter((p): p is SimNode => p !== undefined)
    if (order % 2 === 1) rotated.reverse()
    for (const p of rotated) {
      s.node.onConnect(p.id)
      this.#afterCall(s)
      p.node.onConnect(s.id)
      this.#afterCall(p)
    }
  }

  // ---- invariants --------------------------------------------------------------------------------

  /** The invariants of the original's property test on every live honest node, and the adversarial ones. */
  checkInvariants(): void {
    const latest = this.nexus.latest
    const coordinatorNode = latest === undefined ? undefined : this.#sim(latest.coordinator)
    const coordinating = coordinatorNode?.alive ? coordinatorNode.node.coordinating() : undefined
    const acked =
      latest !== undefined && coordinating?.epoch === latest.epoch && coordinating.op === "Prepare"
        ? new Set(coordinating.ackedPrepares.map((id) => id.key))
        : new Set<string>()
    for (const s of this.#honest()) {
      this.stats.invariantChecks++
      // First, so that an overwritten committed share is named as such rather than as a digest mismatch.
      this.#checkAuthority(s)
      const state = s.node.ctx.persistentState
      for (const [epoch, config] of state.configs) {
        const known = this.#coordinated.get(epoch)
        check(
          known !== undefined &&
            (ConfigurationModule.equals(known, config) || this.#reauthorizedByAdversary(known, config, state)),
          "SameConfigurationPerEpoch",
          () => `${s.id} holds a configuration for epoch ${epoch} that no coordinator persisted, or a different one`
        )
      }
      for (const [epoch, share] of state.shares) {
        const digest = state.configs.get(epoch)?.digestOf(s.id)
        check(
          digest !== undefined && digestEquals(shareDigest(share), digest),
          "ShareMatchesDigest",
          () => `${s.id}'s persisted share of epoch ${epoch} does not match its configuration's digest`
        )
      }
      if (latest !== undefined && acked.has(s.id.key)) {
        check(
          PersistentState.hasPrepared(state, latest.epoch),
          "PreparedIfAcked",
          () => `${s.id} acknowledged the prepare of ${latest.epoch} but has not prepared it`
        )
      }
      if (latest?.op === "Committed" && latest.committed.has(s.id.key)) {
        check(
          state.commits.has(latest.epoch) && PersistentState.hasPrepared(state, latest.epoch),
          "CommittedIfNexusHasCommitAck",
          () => `${s.id} acknowledged the commit of ${latest.epoch} but has not committed it`
        )
      }
      check(
        !(s.node.coordinating() !== undefined && s.node.isComputingKeyShare()),
        "NotCoordinatingAndComputing",
        () => `${s.id} is coordinating and computing a key share at once`
      )
      check(s.node.ctx.alarms.length === 0, "NoAlarms", () => `${s.id} raised ${s.node.ctx.alarms.map((a) => a._tag)}`)
      if (this.nexus.expunged.has(s.id.key)) {
        const lc = PersistentState.latestCommittedConfig(state)
        const nexusView = lc === undefined ? undefined : this.nexus.configs.get(lc.epoch)
        check(
          PersistentState.isExpunged(state) ||
            lc === undefined ||
            (lc.isMember(s.id) && nexusView?.members.some((m) => BaseboardIdModule.equals(m, s.id)) === true),
          "ExpungedReallyExpunged",
          () => `${s.id} was removed but believes it belongs to epoch ${lc?.epoch}`
        )
      }
    }
    this.#checkAdversaryShares()
  }

  /**
   * The one divergence no check can stop: the adversary coordinated `known`'s epoch and, once the control
   * plane moved on, re-used its genuine authorization with fresh shares at a node that never stored that
   * epoch and has committed none since. Such a variant is never committed (its commit would need a
   * control-plane signature over it), so it is only tolerated uncommitted.
   */
  #reauthorizedByAdversary(
    known: Configuration,
    config: Configuration,
    state: PersistentState.PersistentState
  ): boolean {
    return (
      this.#isAdversary(known.coordinator) &&
      BaseboardIdModule.equals(known.coordinator, config.coordinator) &&
      digestEquals(known.authorization.signature, config.authorization.signature) &&
      !state.commits.has(config.epoch) &&
      Decision.verifyReconfiguration(this.nexus.authority.publicKey, config)
    )
  }

  /**
   * What only the control plane may decide, at an honest node: every commit carries its valid commit
   * signature, a committed share never changes, and only a removed node — a member of a committed
   * configuration that the control plane then committed one without — is expunged, at such an epoch.
   */
  #checkAuthority(s: SimNode): void {
    const state = s.node.ctx.persistentState
    for (const epoch of state.commits) {
      const key = `${s.id.key}/${epoch}`
      const config = state.configs.get(epoch)
      const proof = state.proofs.get(epoch)
      const verified = this.#verifiedCommits.get(key)
      if (verified === undefined || verified.config !== config || verified.proof !== proof) {
        check(
          config !== undefined &&
            proof !== undefined &&
            Decision.verifyCommit(this.nexus.authority.publicKey, config, proof),
          "CommitsCarryControlPlaneSignature",
          () => `${s.id} committed epoch ${epoch} without the control plane's commit signature over its configuration`
        )
        if (config !== undefined && proof !== undefined) this.#verifiedCommits.set(key, { config, proof })
      }
      const share = state.shares.get(epoch)
      const first = this.#committedShares.get(key)
      if (first === undefined) {
        if (share !== undefined) this.#committedShares.set(key, { x: share.x, y: Uint8Array.from(share.y) })
      } else {
        check(
          share !== undefined && share.x === first.x && digestEquals(share.y, first.y),
          "CommittedShareUnchanged",
          () => `${s.id}'s committed share of epoch ${epoch} changed`
        )
      }
    }
    if (Option.isSome(state.expunged)) {
      const epoch = state.expunged.value.epoch
      const decided = this.nexus.configs.get(epoch)
      check(
        decided?.op === "Committed" &&
          !decided.members.some((m) => BaseboardIdModule.equals(m, s.id)) &&
          this.nexus.expunged.has(s.id.key),
        "ExpungedOnlyWhenRemoved",
        () => `${s.id} was expunged at epoch ${epoch}, but the control plane did not commit its removal there`
      )
    }
  }

  /**
   * The adversary never holds K genuine shares of an epoch it did not coordinate, unless it is a member
   * of that epoch and the control plane committed it: an outsider learns no secret, and a member no
   * secret of an epoch that was never committed (whose configuration encrypts every earlier secret).
   */
  #checkAdversaryShares(): void {
    const adversary = this.adversary
    if (adversary === undefined) return
    for (const [epoch, xs] of adversary.genuineShares) {
      const config = this.#coordinated.get(epoch)
      if (config === undefined || xs.size < config.threshold) continue
      check(
        BaseboardIdModule.equals(config.coordinator, adversary.id) ||
          (config.isMember(adversary.id) && this.nexus.configs.get(epoch)?.op === "Committed"),
        "SharesOnlyOfCommittedMembership",
        () => `the adversary holds ${xs.size} genuine shares of epoch ${epoch} (threshold ${config.threshold})`
      )
    }
  }

  /**
   * Acknowledgements the control plane holds that no disk backs: a prepare acknowledged for an epoch
   * the node has not persisted a share of, or a commit acknowledged for an epoch its disk does not hold
   * as committed. Read from the disks (what survives a crash), over every configuration; the
   * simulation's "lost" figure, 0 in a correct run.
   */
  lostAcknowledgements(): number {
    let lost = 0
    for (const config of this.nexus.configs.values()) {
      for (const key of config.prepared) {
        const disk = this.#nodes.get(key)?.disk
        if (disk === undefined || !PersistentState.hasPrepared(disk, config.epoch)) lost++
      }
      for (const key of config.committed) {
        if (this.#nodes.get(key)?.disk.commits.has(config.epoch) !== true) lost++
      }
    }
    return lost
  }

  // ---- liveness ----------------------------------------------------------------------------------

  /** Delivers every envelope (smallest destination first, last envelope first) until the network is empty. */
  deliverAll(): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const keys = Array.from(this.#network.entries())
        .filter(([, q]) => q.length > 0)
        .map(([k]) => k)
        .sort()
      const first = keys[0]
      if (first === undefined) return
      const queue = this.#network.get(first) ?? []
      const envelope = queue.pop()
      const to = this.#nodes.get(first)
      if (envelope && to?.alive && this.isAlive(envelope.from)) {
        this.#handle(to, envelope)
        this.checkInvariants()
      }
    }
    throw new InvariantViolation("Liveness", "the network did not drain")
  }

  /** The liveness phase: returns the secret every member of the final configuration loaded. */
  finish(): RackSecret | undefined {
    for (const s of this.#nodes.values()) if (!s.alive) this.#restart(s, 0)
    this.deliverAll()
    const latest = this.nexus.latest
    if (latest === undefined) return undefined
    if (latest.op === "Aborted") {
      // The adversary coordinated only a first configuration: any honest member may retry that.
      const coordinator = this.#isAdversary(latest.coordinator)
        ? (latest.members.find((m) => !this.#isAdversary(m)) ?? latest.coordinator)
        : latest.coordinator
      const retry = this.nexus.record({
        epoch: latest.epoch + 1,
        lastCommittedEpoch: latest.lastCommittedEpoch,
        coordinator,
        members: latest.members,
        threshold: latest.threshold
      })
      const c = this.#sim(retry.coordinator)
      if (c === undefined) return undefined
      const result = c.node.coordinateReconfiguration(this.#reconfigureMsg(retry))
      check(Result.isSuccess(result), "Liveness", () => `retry at ${retry.epoch} refused`)
      this.#afterCall(c)
      this.deliverAll()
      return this.#completePrepared(retry)
    }
    if (latest.op === "Preparing") return this.#completePrepared(latest)
    return this.#completeCommitted(latest)
  }

  #members(c: NexusConfig): ReadonlyArray<SimNode> {
    return c.members.map((m) => this.#sim(m)).filter((s): s is SimNode => s !== undefined)
  }

  #completePrepared(c: NexusConfig): RackSecret | undefined {
    const { proof } = this.#commitOf(c)
    for (const s of this.#members(c)) {
      check(
        PersistentState.hasPrepared(s.node.ctx.persistentState, c.epoch),
        "Liveness",
        () => `${s.id} did not prepare ${c.epoch}`
      )
      check(
        Result.isSuccess(s.node.commitConfiguration(simRackId, c.epoch, proof)),
        "Liveness",
        () => `${s.id} refused commit`
      )
      this.#afterCall(s)
    }
    c.op = "Committed"
    this.deliverAll()
    return this.#loadEverywhere(c)
  }

  #completeCommitted(c: NexusConfig): RackSecret | undefined {
    const members = this.#members(c)
    const { config, proof } = this.#commitOf(c)
    const unprepared = members.filter((s) => !PersistentState.hasPrepared(s.node.ctx.persistentState, c.epoch))
    for (const s of unprepared) {
      check(
        Result.isSuccess(s.node.prepareAndCommit(config, proof)),
        "Liveness",
        () => `${s.id} refused prepareAndCommit`
      )
      this.#afterCall(s)
    }
    this.deliverAll()
    for (const s of members) {
      if (unprepared.includes(s) || s.node.ctx.persistentState.commits.has(c.epoch)) continue
      check(
        Result.isSuccess(s.node.commitConfiguration(simRackId, c.epoch, proof)),
        "Liveness",
        () => `${s.id} refused commit`
      )
      this.#afterCall(s)
    }
    this.deliverAll()
    return this.#loadEverywhere(c)
  }

  #loadEverywhere(c: NexusConfig): RackSecret | undefined {
    const members = this.#members(c)
    for (const s of members) {
      check(s.node.ctx.persistentState.commits.has(c.epoch), "Liveness", () => `${s.id} did not commit ${c.epoch}`)
      check(s.node.coordinating() === undefined, "Liveness", () => `${s.id} still coordinates`)
      s.node.loadRackSecret(c.epoch)
      this.#afterCall(s)
    }
    this.deliverAll()
    let first: RackSecret | undefined
    for (const s of members) {
      const loaded = s.node.loadRackSecret(c.epoch)
      this.#afterCall(s)
      check(
        Result.isSuccess(loaded) && Option.isSome(loaded.success),
        "Liveness",
        () => `${s.id} could not load ${c.epoch}`
      )
      if (Result.isSuccess(loaded) && Option.isSome(loaded.success)) {
        first ??= loaded.success.value
        const same = loaded.success.value.equals(first)
        check(same, "Liveness", () => `${s.id} loaded a different secret for ${c.epoch}`)
      }
      check(!s.node.isCollectingSharesForRackSecret(c.epoch), "Liveness", () => `${s.id} is still collecting`)
    }
    this.deliverAll()
    for (const s of this.#nodes.values()) {
      check(s.node.ctx.envelopes.length === 0, "Liveness", () => `${s.id} has unsent envelopes`)
    }
    return first
  }
}
