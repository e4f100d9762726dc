/**
 * A node's replica of the network config: the config it holds, its own ledger, and the three points
 * where the NodeTask hands it work — a link comes up (push ours to the peer), a peer pushes one (adopt
 * a higher authorized generation, persist it, pass it on to every other peer), and the API updates it
 * (check, persist, broadcast). The rules themselves are `protocol/NetworkConfig.ts`.
 *
 * Everything runs inside the NodeTask's loop, so it is ordered with the link events, and follows the
 * same rule as the protocol state: persist → reply → send. A config is adopted in memory, reported and
 * sent only once its ledger write succeeded; a write that reaches no copy fails, and the NodeTask stops
 * the node rather than serve or pass on what is not durable. A push refused for what no honest peer
 * sends is warned through the NodeTask's rate-limited log, naming the peer and the reason; a routine
 * stale or equal push is logged at debug level.
 */
import { Effect, Option, Result, SubscriptionRef } from "effect"
import type { PublicKey } from "../crypto/AuthorityKey.ts"
import * as Rules from "../protocol/NetworkConfig.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import {
  type NetworkConfig,
  type NetworkConfigSummary,
  summary,
  type UpdateNetworkConfigError
} from "../types/NetworkConfig.ts"
import type { RackId } from "../types/RackId.ts"
import type { LinkHandle } from "./Link.ts"
import type { RateLimitedLog } from "./RateLimitedLog.ts"
import * as Wire from "./Wire.ts"

/** Where a node keeps its network config: `Ledger.file({ paths, schema: NetworkConfig })` or `Ledger.memory()`. */
export interface NetworkConfigLedger<E = never> {
  readonly load: Effect.Effect<Option.Option<NetworkConfig>, E>
  readonly save: (config: NetworkConfig) => Effect.Effect<unknown, { readonly message: string }>
}

/** A write of the network-config ledger reached no copy: the node must stop. */
export interface PersistFailure {
  readonly message: string
}

/** What the replica needs of the NodeTask. */
export interface Host {
  readonly authority: PublicKey
  /** The rack of the configurations the node stores, if any. */
  readonly rackId: () => RackId | undefined
  /** The current link of every connected peer. */
  readonly links: () => Iterable<LinkHandle>
  /** The NodeTask's rate-limited warning log (one budget for every refusal). */
  readonly refusals: RateLimitedLog
}

/** A node's network-config replica. */
export interface Replica {
  readonly current: () => NetworkConfig | undefined
  /** What `Status` shows of the config held (its blob hashed once per config, not once per `Status`). */
  readonly summary: () => NetworkConfigSummary | undefined
  /** The config held, changing after each durable adoption or update. */
  readonly changes: SubscriptionRef.SubscriptionRef<Option.Option<NetworkConfig>>
  /** A link became current for its peer: push our config to it. */
  readonly onLinkUp: (link: LinkHandle) => void
  /** A peer pushed a config over its current link. */
  readonly receive: (from: BaseboardId, config: NetworkConfig) => Effect.Effect<void, PersistFailure>
  /** The API updates the config: refused with a typed error, or persisted and then broadcast. */
  readonly update: (
    config: NetworkConfig
  ) => Effect.Effect<Result.Result<void, UpdateNetworkConfigError>, PersistFailure>
}

/** A replica starting from the config loaded from its ledger (dropped with a warning if it no longer verifies). */
export const make = (options: {
  readonly ledger: NetworkConfigLedger<unknown>
  readonly loaded: Option.Option<NetworkConfig>
  readonly host: Host
}): Effect.Effect<Replica> =>
  Effect.gen(function* () {
    const { ledger, host } = options
    const context = (): Rules.Context => ({ authority: host.authority, rackId: host.rackId() })
    let current: NetworkConfig | undefined
    if (Option.isSome(options.loaded)) {
      const restored = Rules.restore(options.loaded.value, context())
      if (Result.isSuccess(restored)) current = restored.success
      else {
        yield* Effect.logWarning(
          `dropped the network config in the ledger: ${restored.failure.message}; peers will supply the current one`
        )
      }
    }
    let held = current === undefined ? undefined : summary(current)
    const changes = yield* SubscriptionRef.make(Option.fromNullishOr(current))

    /** Persists `config`, then makes it the current one; nothing is sent before the write succeeded. */
    const adopt = (config: NetworkConfig) =>
      Effect.gen(function* () {
        yield* ledger.save(config)
        current = config
        held = summary(config)
        yield* SubscriptionRef.set(changes, Option.some(config))
      })

    const broadcast = (config: NetworkConfig, except?: LinkHandle) =>
      Effect.sync(() => {
        const frame = new Wire.NetworkConfig({ config })
        for (const link of host.links()) if (link !== except) link.offer(frame)
      })

    const replica: Replica = {
      current: () => current,
      summary: () => held,
      changes,
      onLinkUp: (link) => {
        if (current !== undefined) link.offer(new Wire.NetworkConfig({ config: current }))
      },
      receive: (from, pushed) =>
        Effect.gen(function* () {
          const receipt = Rules.receive(current, from, pushed, context())
          const peer = from.toString()
          switch (receipt._tag) {
            case "Refuse":
              return yield* host.refusals.warn(receipt.reason, `refused a NetworkConfig: ${receipt.detail}`, {
                peer,
                message: "NetworkConfig",
                generation: pushed.generation
              })
            case "Ignore":
              return yield* Effect.logDebug(`ignored network config generation ${pushed.generation}`).pipe(
                Effect.annotateLogs({ peer, reason: receipt.reason, current: current?.generation })
              )
            case "Adopt": {
              const sender = Array.from(host.links()).find((l) => l.peer.key === from.key)
              yield* adopt(receipt.config)
              yield* Effect.logInfo(`adopted network config generation ${receipt.config.generation}`).pipe(
                Effect.annotateLogs({ peer, ...summary(receipt.config) })
              )
              return yield* broadcast(receipt.config, sender)
            }
          }
        }),
      update: (proposed) =>
        Effect.gen(function* () {
          const checked = Rules.update(current, proposed, context())
          if (Result.isFailure(checked)) return Result.fail(checked.failure)
          yield* adopt(checked.success)
          yield* Effect.logInfo(`network config updated to generation ${checked.success.generation}`).pipe(
            Effect.annotateLogs(summary(checked.success))
          )
          yield* broadcast(checked.success)
          return Result.void
        })
    }
    return replica
  })
