/**
 * The NodeTask: one fiber that owns the sans-io protocol `Node` and applies every event to it in order.
 *
 * Events are API requests (each completing its own Deferred), link events from the connection manager
 * (`LinkUp`, `LinkFrame`, `LinkDown`) and nothing else; they arrive on one bounded queue, so a link's
 * closure never overtakes its last frame. After each event the task persists the state if the protocol
 * changed it, then replies, then hands the outgoing envelopes to the current links without waiting —
 * persist → reply → send, so nothing is acknowledged that is not durable. A failed persist stops the
 * node, and so does a defect anywhere in the loop (a bug: the task never dies silently): the stop is
 * logged at error level, the request being handled, every waiting and every later request fail with
 * `NodeStopped` (carrying the defect, if any), in-flight proxied requests fail, links close, and
 * `stopped` completes with the reason. Every peer message the protocol refused is logged with its
 * sender and reason: a hostile one (forged, unauthorized, malformed) as a warning, rate-limited so a
 * flood cannot fill the log; a routine one (a duplicate, a late acknowledgement) at debug level. A
 * proxied request refused as unauthorized, and a link closed because its peer sent a frame that does
 * not decode or is too large, are warned the same way. The node's network-config replica
 * (`NetworkConfigReplica`) runs inside the same loop, at three points: a link comes up, a peer pushes a
 * config, the API updates it.
 *
 * Admission is fair: API requests have slots of their own (`maxPendingApi`, `Busy` beyond) that link
 * traffic never takes, and link events share `eventCapacity` with each link holding at most its share
 * (the capacity over the links with events waiting), so a flooding peer waits on its own link — its reads
 * pause — while others' events and the API still get in.
 *
 * The proxy's hot path does not hop through this fiber: a caller registers its request in the tracker
 * and writes its frame itself, and a link hands proxy frames to `fastPath` where they are read, which
 * completes answers and serves operations with a snapshot (`Status`). The fast path runs only while no
 * event is waiting or being applied, and only for a link this task knows as current, so it never reorders
 * anything the task has yet to see; anything else takes the queue. `Commit` and `PrepareAndCommit` are
 * always served by a step (persist → reply → send).
 */
import {
  Cause,
  Clock,
  Deferred,
  Effect,
  Exit,
  Metric,
  Option,
  Queue,
  Result,
  type Scope,
  SubscriptionRef,
  Tracer
} from "effect"
import type { Node } from "../protocol/Node.ts"
import { hostileDropReasons } from "../protocol/NodeCtx.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Epoch } from "../types/Epoch.ts"
import type { NetworkConfig, NetworkConfigSummary, UpdateNetworkConfigError } from "../types/NetworkConfig.ts"
import * as PersistentState from "../types/PersistentState.ts"
import { type Address, compareAddress, formatAddress, type ManagerEvent } from "./ConnectionManager.ts"
import * as Ledger from "./Ledger.ts"
import type { LinkCloseReason, LinkHandle } from "./Link.ts"

import * as NetworkConfigReplica from "./NetworkConfigReplica.ts"
import * as NodeMetrics from "./NodeMetrics.ts"

import * as ProxyOperation from "./ProxyOperation.ts"
import { type Entry, ProxyTracker } from "./ProxyTracker.ts"
import * as RateLimitedLog from "./RateLimitedLog.ts"
import { Busy, Disconnected, type InvalidResponse, NodeStopped } from "./RuntimeError.ts"
import * as Span from "./Span.ts"
import * as Wire from "./Wire.ts"

/** What the NodeTask needs of a ledger (`Ledger.file` and `Ledger.memory` provide it). */
export interface StateLedger {
  readonly save: (
    state: PersistentState.PersistentState
  ) => Effect.Effect<{ readonly written: number; readonly configured: number }, { readonly message: string }>
}

/** One established link, as reported by `connections`. */
export interface ConnectionInfo {
  readonly connectionId: number
  readonly peer: BaseboardId
  readonly listenAddress: string
  readonly remoteAddress: string
  readonly direction: "inbound" | "outbound"
  /** Epoch milliseconds of the handshake. */
  readonly since: number
  /** Whether this link is the one the node uses for its peer (a losing duplicate is about to close). */
  readonly current: boolean
}

/**
 * An API request: `apply` runs it inside the loop and returns the reply, sent once the state is
 * persisted; `abort` fails the caller instead when the node stops first.
 */
interface ApiEvent {
  readonly _tag: "Api"
  readonly apply: (node: Node, task: TaskView) => Effect.Effect<void>
  readonly abort: (error: NodeStopped) => Effect.Effect<void>
  /** The caller's span: the event's own span joins the caller's trace. */
  readonly parent: Option.Option<Tracer.AnySpan>
}

export type NodeEvent = ApiEvent | ManagerEvent

/** What API requests may read of the task besides the protocol node. */
export interface TaskView {
  readonly connections: ReadonlyArray<ConnectionInfo>
  /** Requests this node forwarded and is still waiting on. */
  readonly proxiedRequests: number
  /** The network config this node holds, if any. */
  readonly networkConfig: NetworkConfigSummary | undefined
}

/** The handle on a running NodeTask. */
export interface NodeTaskHandle {
  /** Runs `f` against the protocol node inside the loop and returns its result after persisting. */
  readonly call: <A, E>(
    f: (node: Node, task: TaskView) => Result.Result<A, E>
  ) => Effect.Effect<A, E | Busy | NodeStopped>
  /**
   * Forwards `operation` to `destination` over its current link and waits for its answer; the caller
   * registers and writes the request itself, without waiting for the loop. Fails with `Disconnected` at
   * once when the destination is not connected (as of the last applied link event), or when the link
   * carrying the request closes first; `Busy` at once when `maxInFlightProxied` requests are in flight.
   */
  readonly proxy: <P, A, E>(
    operation: ProxyOperation.Operation<string, P, A, E>,
    destination: BaseboardId,
    payload: P
  ) => Effect.Effect<A, E | Disconnected | Busy | InvalidResponse | NodeStopped>
  /** The sink for the connection manager's events; it waits while the event's link holds its share. */
  readonly sink: (event: ManagerEvent) => Effect.Effect<void>
  /**
   * Takes a proxy frame where its link read it, if it can without reordering: true if it was handled (an
   * answer completed, or a request answered from a snapshot), false to send it through `sink` instead.
   */
  readonly fastPath: (connectionId: number, frame: Wire.ProxyFrame) => boolean
  readonly committedEpoch: SubscriptionRef.SubscriptionRef<Option.Option<Epoch>>
  /** Checks, persists and broadcasts a network config (a failed write stops the node). */
  readonly updateNetworkConfig: (
    config: NetworkConfig
  ) => Effect.Effect<void, UpdateNetworkConfigError | Busy | NodeStopped>
  /** The network config held; changes after each durable adoption or update. */
  readonly networkConfig: SubscriptionRef.SubscriptionRef<Option.Option<NetworkConfig>>
  /** The durable copies written by the last save, against the configured number. */
  readonly ledgerCopies: Effect.Effect<{ readonly written: number; readonly configured: number } | undefined>
  /** Completes with the reason once the task has stopped (a failed write, a defect, or its scope closing). */
  readonly stopped: Effect.Effect<NodeStopped>
}

export interface NodeTaskOptions {
  readonly node: Node
  readonly listenAddress: Address
  readonly ledger: StateLedger
  /** API requests that may wait at once, in slots link traffic never takes; more fail with `Busy` (default 32). */
  readonly maxPendingApi?: number
  /**
   * Link events that may wait at once, all links together; each link holds at most this over the number of
   * links with events waiting, and a link over its share waits, which pauses its reads (default 1024).
   */
  readonly eventCapacity?: number
  /** Proxied requests in flight at once; more fail with `Busy` (default 256). */
  readonly maxInFlightProxied?: number
  /** The network-config ledger and what was loaded from it (default: in memory, empty). */
  readonly networkConfig?: {
    readonly ledger: NetworkConfigReplica.NetworkConfigLedger<unknown>
    readonly loaded: Option.Option<NetworkConfig>
  }
}

interface LinkEntry extends ConnectionInfo {
  readonly handle: LinkHandle
}

/** A link event waiting for room in the queue. */
interface Waiter {
  readonly event: ManagerEvent
  readonly resume: () => void
}

/** Starts the NodeTask in the current scope. */
export const make = (options: NodeTaskOptions): Effect.Effect<NodeTaskHandle, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { node, ledger } = options
    const maxPendingApi = options.maxPendingApi ?? 32
    const linkCapacity = options.eventCapacity ?? 1024
    // Never full: every event is admitted against its own bound below first, and counted until applied.
    const events = yield* Queue.bounded<NodeEvent>(linkCapacity + maxPendingApi)
    /** API requests queued or being applied. */
    let pendingApi = 0
    /** Link events queued or being applied, all links together and by link. */
    let pendingLink = 0
    const pendingByLink = new Map<number, number>()
    /** Links waiting for room, in arrival order; a link has at most one (its events come one at a time). */
    const waiters = new Set<Waiter>()
    let stopped: NodeStopped | undefined
    const stoppedSignal = Deferred.makeUnsafe<NodeStopped>()
    /** The first reason wins; later ones (the shutdown after a failure) do not replace it. */
    const stop = (error: NodeStopped): NodeStopped => {
      stopped ??= error
      return stopped
    }
    /** The API request being handled, so that a defect while handling it still fails its caller. */
    let handling: ApiEvent | undefined
    let ledgerCopies: { readonly written: number; readonly configured: number } | undefined
    const links = new Map<number, LinkEntry>()
    const tracker = new ProxyTracker(options.maxInFlightProxied ?? 256, yield* Effect.context<never>())
    /** Proxy answers produced by the current event, sent after it is persisted. */
    let replies: Array<{ readonly link: LinkEntry; readonly frame: Wire.ProxyFrame }> = []
    /** Encoded answers as of the last completed step (see `ProxyOperation.serveFromSnapshot`). */
    const snapshots: ProxyOperation.Snapshots = new Map()
    const current = new Map<string, number>()
    const refusals = yield* RateLimitedLog.make({ subject: "refused peer messages" })
    const committedEpoch = yield* SubscriptionRef.make(
      Option.fromNullishOr(PersistentState.latestCommittedEpoch(node.ctx.persistentState))
    )

    const networkConfig = yield* NetworkConfigReplica.make({
      ledger: options.networkConfig?.ledger ?? Ledger.memory<NetworkConfig>(),
      loaded: options.networkConfig?.loaded ?? Option.none(),
      host: {
        authority: node.ctx.policy.authority,
        rackId: () => PersistentState.rackId(node.ctx.persistentState),
        links: () => Array.from(current.values(), (id) => links.get(id)?.handle).filter((h) => h !== undefined),
        refusals
      }
    })
    /** A network-config write that reached no copy stops the node, like a failed protocol persist. */
    const stopOnNetworkConfigWrite = (e: NetworkConfigReplica.PersistFailure) =>
      Effect.as(
        Effect.logError("stopping: the network-config ledger could not be written", e.message),
        stop(new NodeStopped({ reason: `network-config ledger write failed: ${e.message}` }))
      )

    const view: TaskView = {
      get proxiedRequests() {
        return tracker.size
      },
      get networkConfig() {
        return networkConfig.summary()
      },
      get connections() {
        return Array.from(links.values(), ({ handle: _, ...info }) => ({
          ...info,
          current: current.get(info.peer.key) === info.connectionId
        }))
      }
    }

    /** The link a peer's traffic goes to, if any. */
    const currentLink = (peer: BaseboardId): LinkEntry | undefined => {
      const id = current.get(peer.key)
      return id === undefined ? undefined : links.get(id)
    }

    /** Whether a link's dialer is the side with the greater listen address (the rule that avoids duplicates). */
    const followsDialRule = (entry: LinkEntry): boolean => {
      const weDial = compareAddress(options.listenAddress, addressOf(entry.listenAddress)) > 0
      return (entry.direction === "outbound") === weDial
    }

    /** Between two links to one peer: the one that follows the dial rule, else the newer. */
    const prefer = (a: LinkEntry, b: LinkEntry): LinkEntry => {
      const ra = followsDialRule(a)
      const rb = followsDialRule(b)
      if (ra !== rb) return ra ? a : b
      return a.connectionId > b.connectionId ? a : b
    }

    const closeLink = (entry: LinkEntry, reason: LinkCloseReason, detail: string) => entry.handle.close(reason, detail)

    /** Delivers an answer read on `entry`; only the request's destination may answer it. */
    const answer = (
      entry: LinkEntry,
      frame: { readonly requestId: number; readonly outcome: string; readonly value: unknown }
    ) => tracker.answer(frame.requestId, entry.peer.key, frame.outcome, frame.value)

    const onLinkEvent = (event: ManagerEvent) =>
      Effect.gen(function* () {
        switch (event._tag) {
          case "LinkUp": {
            const entry: LinkEntry = {
              connectionId: event.connectionId,
              peer: event.peer,
              listenAddress: formatAddress(event.listenAddress),
              remoteAddress: event.remoteAddress,
              direction: event.direction,
              since: yield* Clock.currentTimeMillis,
              current: true,
              handle: event.handle
            }
            links.set(event.connectionId, entry)
            yield* Metric.update(NodeMetrics.metrics.links, links.size)
            const existing = currentLink(event.peer)
            if (existing === undefined) {
              current.set(event.peer.key, event.connectionId)
              networkConfig.onLinkUp(event.handle)
              node.onConnect(event.peer)
              return
            }
            const winner = prefer(existing, entry)
            const loser = winner === entry ? existing : entry
            current.set(event.peer.key, winner.connectionId)
            yield* closeLink(loser, "Replaced", `link ${winner.connectionId} to the same peer was kept`)
            // Safe to repeat: on_connect only re-sends what is owed to the peer.
            if (winner === entry) {
              networkConfig.onLinkUp(event.handle)
              node.onConnect(event.peer)
            }
            return
          }
          case "LinkFrame": {
            const entry = links.get(event.connectionId)
            // Frames from a link that is no longer current for its peer are ignored.
            if (entry === undefined || current.get(entry.peer.key) !== event.connectionId) return
            const frame = event.frame
            if (frame._tag === "Peer") node.handle(entry.peer, frame.msg)
            else if (frame._tag === "ProxyRequest") {
              // Served exactly like a local API call: the answer leaves after the state is persisted.
              const { outcome, value } = ProxyOperation.serve(frame.operation, frame.payload, node, view)
              if (ProxyOperation.isUnauthorized(outcome, value)) {
                const peer = entry.peer.toString()
                yield* refusals.warn(
                  "NotAuthorized",
                  `refused a proxied ${frame.operation} from ${peer}: not signed by the authority key`,
                  { peer, message: `ProxyRequest(${frame.operation})` }
                )
              }
              replies.push({
                link: entry,
                frame: { _tag: "ProxyResponse", requestId: frame.requestId, outcome, value }
              })
            } else if (frame._tag === "ProxyResponse") answer(entry, frame)
            else if (frame._tag === "NetworkConfig") {
              yield* networkConfig.receive(entry.peer, frame.config).pipe(Effect.catch(stopOnNetworkConfigWrite))
            }
            return
          }
          case "LinkDown": {
            const entry = links.get(event.connectionId)
            links.delete(event.connectionId)
            yield* Metric.update(NodeMetrics.metrics.links, links.size)
            yield* NodeMetrics.linkClosed(event.reason)
            tracker.failConnection(event.connectionId)
            if (entry === undefined) return
            // Only the current link's closure disconnects the peer; a replaced link's late closure does not.
            if (current.get(entry.peer.key) === event.connectionId) {
              current.delete(entry.peer.key)
              node.onDisconnect(entry.peer)
            }
            yield* Effect.logDebug("link closed", event.reason, event.detail).pipe(
              Effect.annotateLogs({ connectionId: event.connectionId, peer: entry.peer.toString() })
            )
            // An authenticated peer that sends what does not decode, or an oversize frame, is hostile or broken.
            if (event.reason === "DecodeError" || event.reason === "FrameTooLarge") {
              yield* refusals.warn(
                event.reason,
                `closed the link to ${entry.peer.toString()}: ${event.reason} (${event.detail})`,
                { peer: entry.peer.toString(), connectionId: event.connectionId }
              )
            }
            return
          }
        }
      })

    /** Persists if the protocol changed the state; a failure stops the node. */
    const persist = Effect.gen(function* () {
      if (!node.ctx.persistentStateChangeCheckAndReset()) return
      const state = node.ctx.persistentState
      const [took, saved] = yield* Effect.timed(Effect.result(ledger.save(state).pipe(Span.traced("tq.ledger.write"))))
      yield* Metric.update(NodeMetrics.metrics.ledgerWrites, took)
      if (Result.isFailure(saved)) {
        stop(new NodeStopped({ reason: `ledger write failed: ${saved.failure.message}` }))
        yield* Effect.logError("stopping: the ledger could not be written", saved.failure.message)
        return
      }
      ledgerCopies = saved.success
      yield* Metric.update(NodeMetrics.metrics.ledgerCopiesWritten, saved.success.written)
      yield* Metric.update(NodeMetrics.metrics.ledgerCopiesConfigured, saved.success.configured)
      const epoch = Option.fromNullishOr(PersistentState.latestCommittedEpoch(state))
      const before = yield* SubscriptionRef.get(committedEpoch)
      if (Option.getOrUndefined(before) !== Option.getOrUndefined(epoch))
        yield* SubscriptionRef.set(committedEpoch, epoch)
    })

    /** Hands the protocol's envelopes to the current links; a missing link drops them (resent on connect). */
    const send = Effect.sync(() => {
      // Proxy answers go back over the link the request came on; if it is gone, the requester sees Disconnected.
      for (const { link, frame } of replies) if (links.has(link.connectionId)) link.handle.offerProxy(frame)
      replies = []
      for (const envelope of node.ctx.drainEnvelopes()) {
        const link = currentLink(envelope.to)
        if (link !== undefined) link.handle.offer(new Wire.Peer({ msg: envelope.msg }))
      }
    })

    /** Logs the peer messages the last event made the protocol refuse. */
    const logDrops = Effect.gen(function* () {
      const { drops, overflow } = node.ctx.drainDrops()
      for (const { from, kind, reason } of drops) {
        const annotations = { peer: from.toString(), message: kind }
        if (hostileDropReasons.has(reason)) {
          yield* refusals.warn(reason, `refused a ${kind} from ${from.toString()}: ${reason}`, annotations)
        } else {
          yield* Effect.logDebug(`ignored a ${kind}: ${reason}`).pipe(Effect.annotateLogs({ ...annotations, reason }))
        }
      }
      if (overflow > 0) yield* refusals.warn("Overflow", `${overflow} more refused messages in one event`, {})
    })

    /**
     * Whether one more event of a link fits: room in the link capacity, and the link under its share — the
     * capacity over the links that have events waiting or are waiting to add one, itself included.
     */
    const admits = (connectionId: number): boolean => {
      if (pendingLink >= linkCapacity) return false
      const held = pendingByLink.get(connectionId) ?? 0
      let sharing = pendingByLink.size + (held === 0 ? 1 : 0)
      for (const waiter of waiters) {
        const id = waiter.event.connectionId
        if (id !== connectionId && !pendingByLink.has(id)) sharing++
      }
      return held < Math.max(1, Math.floor(linkCapacity / sharing))
    }

    const enqueueLink = (event: ManagerEvent): void => {
      pendingLink++
      pendingByLink.set(event.connectionId, (pendingByLink.get(event.connectionId) ?? 0) + 1)
      Queue.offerUnsafe(events, event)
    }

    /** An event is applied: its slot is free, and a waiting link that now fits its share gets in. */
    const release = (event: NodeEvent): void => {
      snapshots.clear()
      if (event._tag === "Api") {
        pendingApi--
        return
      }
      pendingLink--
      const held = (pendingByLink.get(event.connectionId) ?? 1) - 1
      if (held === 0) pendingByLink.delete(event.connectionId)
      else pendingByLink.set(event.connectionId, held)
      for (const waiter of waiters) {
        if (!admits(waiter.event.connectionId)) continue
        waiters.delete(waiter)
        enqueueLink(waiter.event)
        waiter.resume()
      }
    }

    /** What an event is, for its span: `Api`, `LinkUp`, `LinkDown`, or the kind of frame a link delivered. */
    const eventName = (event: NodeEvent): string =>
      event._tag === "LinkFrame"
        ? event.frame._tag === "Peer"
          ? `Peer(${event.frame.msg.kind._tag})`
          : event.frame._tag
        : event._tag

    const step = (event: NodeEvent) =>
      Effect.gen(function* () {
        if (event._tag === "Api") {
          handling = event
          const reply = event.apply(node, view)
          yield* persist
          if (stopped !== undefined) return yield* event.abort(stopped)
          yield* reply
          handling = undefined
        } else {
          const served = Effect.andThen(onLinkEvent(event), persist)
          const trace =
            event._tag === "LinkFrame" && event.frame._tag === "ProxyRequest" ? event.frame.trace : undefined
          // A proxied request is served in the trace of the request that sent it (its span came in the frame).
          yield* trace === undefined
            ? served
            : served.pipe(
                Span.traced("tq.proxy.serve", {
                  parent: Tracer.externalSpan({ traceId: trace.traceId, spanId: trace.spanId }),
                  attributes: { node: node.id.toString() }
                })
              )
          yield* logDrops
        }
        if (stopped === undefined) yield* send
        yield* Metric.update(NodeMetrics.metrics.queueDepth, yield* Queue.size(events))
      }).pipe(
        // Every event the task applies is a span; an API event's is a child of its caller's.
        Span.traced("tq.node.event", {
          attributes: { node: node.id.toString(), event: eventName(event) },
          ...(event._tag === "Api" && Option.isSome(event.parent) ? { parent: event.parent.value } : {})
        }),
        Effect.ensuring(Effect.sync(() => release(event)))
      )

    /**
     * Once stopped: fail every waiting request, release the links waiting for room, close every link, then
     * signal `stopped`; later link events are dropped.
     */
    const abortAll = (error: NodeStopped) =>
      Effect.gen(function* () {
        if (handling !== undefined) yield* handling.abort(error)
        handling = undefined
        for (const event of yield* Queue.clear(events)) {
          if (event._tag === "Api") yield* event.abort(error)
        }
        for (const waiter of waiters) waiter.resume()
        waiters.clear()
        tracker.failAll()
        for (const entry of links.values()) yield* closeLink(entry, "Shutdown", error.reason)
        Deferred.doneUnsafe(stoppedSignal, Exit.succeed(error))
      })

    const loop = Effect.gen(function* () {
      while (stopped === undefined) yield* step(yield* Queue.take(events))
      yield* abortAll(stopped)
    }).pipe(
      // A defect is a bug in the task or the core: stop loudly rather than leave every caller hanging.
      Effect.catchDefect((defect) =>
        Effect.gen(function* () {
          const error = stop(
            new NodeStopped({ reason: `a defect in the node task: ${describeDefect(defect)}`, cause: defect })
          )
          yield* Effect.logError("stopping: a defect in the node task", Cause.pretty(Cause.die(defect)))
          yield* abortAll(error)
        })
      )
    )

    yield* Effect.forkScoped(loop)
    yield* Effect.addFinalizer(() => abortAll(stop(new NodeStopped({ reason: "shut down" }))))

    /** Admits an API event whose `apply` completes `deferred`: `Busy` at once when the API's slots are taken. */
    const submitApi = <A, E>(
      apply: (deferred: Deferred.Deferred<A, E | NodeStopped>) => ApiEvent["apply"]
    ): Effect.Effect<A, E | Busy | NodeStopped> =>
      Effect.flatMap(Effect.option(Effect.currentParentSpan), (parent): Effect.Effect<A, E | Busy | NodeStopped> => {
        if (stopped !== undefined) return Effect.fail(stopped)
        if (pendingApi >= maxPendingApi) return Effect.fail(new Busy({ limit: maxPendingApi }))
        const deferred = Deferred.makeUnsafe<A, E | NodeStopped>()
        pendingApi++
        Queue.offerUnsafe(events, {
          _tag: "Api",
          apply: apply(deferred),
          abort: (error) => Deferred.fail(deferred, error).pipe(Effect.asVoid),
          parent
        })
        return Deferred.await(deferred)
      })

    const call = <A, E>(
      f: (node: Node, task: TaskView) => Result.Result<A, E>
    ): Effect.Effect<A, E | Busy | NodeStopped> =>
      submitApi<A, E>((deferred) => (n, t) => {
        const result = f(n, t)
        return Deferred.done(
          deferred,
          Result.isSuccess(result) ? Exit.succeed(result.success) : Exit.fail(result.failure)
        ).pipe(Effect.asVoid)
      })

    /**
     * A network-config update is an API event like `call`'s, whose reply does its own write inside the loop
     * (persist → reply → send); a write that reaches no copy stops the node.
     */
    const updateNetworkConfig = (
      config: NetworkConfig
    ): Effect.Effect<void, UpdateNetworkConfigError | Busy | NodeStopped> =>
      submitApi<void, UpdateNetworkConfigError>(
        (deferred) => () =>
          networkConfig.update(config).pipe(
            Effect.flatMap((result) =>
              Deferred.done(deferred, Result.isSuccess(result) ? Exit.void : Exit.fail(result.failure))
            ),
            Effect.catch((e) => Effect.flatMap(stopOnNetworkConfigWrite(e), (error) => Deferred.fail(deferred, error))),
            Effect.asVoid
          )
      )

    const stoppedWhileWaiting = () =>
      stopped ?? new NodeStopped({ reason: "shut down while a proxied request was in flight" })

    const proxy = <P, A, E>(
      operation: ProxyOperation.Operation<string, P, A, E>,
      destination: BaseboardId,
      payload: P
    ): Effect.Effect<A, E | Disconnected | Busy | InvalidResponse | NodeStopped> =>
      // Every run of the returned effect is a new request (so `Effect.retry` really retries). The caller
      // registers and writes its request itself; the link it picked is one this task knows as current, so its
      // closure, which reaches the task after its last frame, fails this request if the answer has not come.
      // The request's span travels in the frame, so the destination's serve joins the caller's trace.
      Effect.withFiber((fiber) =>
        Effect.callback<A, E | Disconnected | Busy | InvalidResponse | NodeStopped>((resume) => {
          if (stopped !== undefined) return resume(Exit.fail(stopped))
          const link = currentLink(destination)
          if (link === undefined) {
            return resume(Exit.fail(new Disconnected({ destination: destination.toString(), connectionId: null })))
          }
          if (tracker.isFull) {
            tracker.refuse()
            return resume(Exit.fail(new Busy({ limit: tracker.capacity })))
          }
          const requestId = tracker.register(
            new WaitingRequest(link.connectionId, destination, operation, resume, stoppedWhileWaiting)
          )
          const span = Span.exported(fiber)
          link.handle.offerProxy({
            _tag: "ProxyRequest",
            requestId,
            operation: operation.tag,
            payload: operation.json.encodePayload(payload),
            ...(span === undefined ? {} : { trace: { traceId: span.traceId, spanId: span.spanId } })
          })
          // A caller that is interrupted (or whose timeout fires) removes its entry: none outlives its caller.
          return Effect.sync(() => tracker.remove(requestId))
        })
      ).pipe(
        Span.traced("tq.proxy.request", {
          attributes: { operation: operation.tag, destination: destination.toString() }
        })
      )

    const fastPath = (connectionId: number, frame: Wire.ProxyFrame): boolean => {
      if (stopped !== undefined || pendingApi > 0 || pendingLink > 0) return false
      const entry = links.get(connectionId)
      if (entry === undefined || current.get(entry.peer.key) !== connectionId) return false
      if (frame._tag === "ProxyResponse") {
        answer(entry, frame)
        return true
      }
      const served = ProxyOperation.serveFromSnapshot(frame.operation, frame.payload, node, view, snapshots)
      if (served === undefined) return false
      entry.handle.offerProxy({ _tag: "ProxyResponse", requestId: frame.requestId, ...served })
      return true
    }

    const sink = (event: ManagerEvent): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (stopped !== undefined) return Effect.void
        if (admits(event.connectionId)) {
          enqueueLink(event)
          return Effect.void
        }
        return Effect.callback<void>((resume) => {
          const waiter: Waiter = { event, resume: () => resume(Effect.void) }
          waiters.add(waiter)
          return Effect.sync(() => waiters.delete(waiter))
        })
      })

    const handle: NodeTaskHandle = {
      call,
      proxy,
      sink,
      fastPath,
      committedEpoch,
      updateNetworkConfig,
      networkConfig: networkConfig.changes,
      ledgerCopies: Effect.sync(() => ledgerCopies),
      stopped: Deferred.await(stoppedSignal)
    }
    return handle
  })

/**
 * A proxied request waiting for its answer — the tracker's entry, holding its caller's resumption. What it
 * does lives in methods rather than closures made per request, so a request in flight costs one small object.
 */
class WaitingRequest<A, E> implements Entry {
  readonly connectionId: number
  readonly destination: string
  readonly #peer: BaseboardId
  readonly #operation: ProxyOperation.Decoding<A, E>
  readonly #resume: (result: Exit.Exit<A, E | Disconnected | InvalidResponse | NodeStopped>) => void
  readonly #stopped: () => NodeStopped

  constructor(
    connectionId: number,
    peer: BaseboardId,
    operation: ProxyOperation.Decoding<A, E>,
    resume: (result: Exit.Exit<A, E | Disconnected | InvalidResponse | NodeStopped>) => void,
    stopped: () => NodeStopped
  ) {
    this.connectionId = connectionId
    this.destination = peer.key
    this.#peer = peer
    this.#operation = operation
    this.#resume = resume
    this.#stopped = stopped
  }

  answer(outcome: string, value: unknown): void {
    this.#resume(ProxyOperation.decodeResponse(this.#operation, this.#peer.toString(), outcome, value))
  }

  fail(reason: "Disconnected" | "NodeStopped"): void {
    this.#resume(
      Exit.fail(
        reason === "Disconnected"
          ? new Disconnected({ destination: this.#peer.toString(), connectionId: this.connectionId })
          : this.#stopped()
      )
    )
  }
}

/** A defect's one-line description: its message if it is an Error (never a value's contents). */
const describeDefect = (defect: unknown): string =>
  defect instanceof Error ? `${defect.name}: ${defect.message}` : typeof defect

const addressOf = (formatted: string): Address => {
  const i = formatted.lastIndexOf(":")
  const host = formatted.slice(0, i).replace(/^\[|\]$/g, "")
  return { host, port: Number(formatted.slice(i + 1)) }
}
