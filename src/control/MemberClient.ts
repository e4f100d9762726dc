/**
 * How the control plane reaches a node: the operations the reconfiguration driver needs, over the
 * node's HTTP API (`fromHttp`) or in-process (`fromNode`). A node without an API is reached through a
 * member's proxy operations.
 *
 * Over HTTP every call has a deadline (default 10 s), so a node that hangs — a paused process, a
 * black-holed network — fails the call with `RequestTimeout` instead of holding the driver; a node that
 * cannot be reached at all (refused, reset) fails with `Unreachable`. Both are worth retrying.
 */
import { Duration, Effect, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { NodeApi } from "../api/NodeApi.ts"
import type { Signature } from "../crypto/AuthorityKey.ts"
import type { TrustQuorumNodeShape } from "../runtime/TrustQuorumNode.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import type { RackId } from "../types/RackId.ts"
import { CommitRequest, PrepareAndCommitRequest, type ReconfigureMsg } from "../types/Request.ts"
import type { CommitStatus, CoordinatorStatus } from "../types/Status.ts"

/** Any failure, reduced to its tag and message: the driver decides by tag (retry, treat as done, or give up). */
export interface CallFailure {
  readonly _tag: string
  readonly message: string
}

const tagged = (e: unknown): CallFailure =>
  typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string"
    ? { _tag: e._tag, message: e instanceof Error ? e.message : e._tag }
    : { _tag: "Unknown", message: String(e) }

type Call<A> = Effect.Effect<A, CallFailure>

/** The operations the driver uses on one node that has an API. */
export interface MemberClient {
  readonly reconfigure: (msg: ReconfigureMsg) => Call<void>
  readonly coordinatorStatus: Call<Option.Option<CoordinatorStatus>>
  readonly commit: (rackId: RackId, epoch: Epoch, proof: Signature) => Call<CommitStatus>
  readonly prepareAndCommit: (config: Configuration, proof: Signature) => Call<CommitStatus>
  readonly proxyCommit: (destination: BaseboardId, rackId: RackId, epoch: Epoch, proof: Signature) => Call<CommitStatus>
  readonly proxyPrepareAndCommit: (
    destination: BaseboardId,
    config: Configuration,
    proof: Signature
  ) => Call<CommitStatus>
}

/** A client over an in-process node. */
export const fromNode = (node: TrustQuorumNodeShape): MemberClient => ({
  reconfigure: (msg) => Effect.mapError(node.reconfigure(msg), tagged),
  coordinatorStatus: Effect.mapError(node.coordinatorStatus, tagged),
  commit: (rackId, epoch, proof) => Effect.mapError(node.commit(rackId, epoch, proof), tagged),
  prepareAndCommit: (config, proof) => Effect.mapError(node.prepareAndCommit(config, proof), tagged),
  proxyCommit: (destination, rackId, epoch, proof) =>
    Effect.mapError(node.proxy.commit(destination, rackId, epoch, proof), tagged),
  proxyPrepareAndCommit: (destination, config, proof) =>
    Effect.mapError(node.proxy.prepareAndCommit(destination, config, proof), tagged)
})

/** An HTTP call's failure: a transport failure (refused, reset, DNS) is `Unreachable`; others keep their tag. */
export const httpFailure = (e: unknown): CallFailure =>
  typeof e === "object" &&
  e !== null &&
  "_tag" in e &&
  e._tag === "HttpClientError" &&
  "reason" in e &&
  typeof e.reason === "object" &&
  e.reason !== null &&
  "_tag" in e.reason &&
  e.reason._tag === "TransportError"
    ? { _tag: "Unreachable", message: e instanceof Error ? e.message : "the node could not be reached" }
    : tagged(e)

/** A client over a node's HTTP API at `baseUrl`; each call fails with `RequestTimeout` after `timeout`. */
export const fromHttp = (
  baseUrl: string,
  options?: { readonly timeout?: Duration.Input }
): Effect.Effect<MemberClient> =>
  Effect.map(
    HttpApiClient.make(NodeApi, { baseUrl }).pipe(Effect.provide(FetchHttpClient.layer)),
    (client): MemberClient => {
      const timeout = options?.timeout ?? Duration.seconds(10)
      const call = <A, E>(effect: Effect.Effect<A, E>) =>
        effect.pipe(
          Effect.provide(FetchHttpClient.layer),
          Effect.mapError(httpFailure),
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail<CallFailure>({
                _tag: "RequestTimeout",
                message: `${baseUrl} did not answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
              })
          })
        )
      return {
        reconfigure: (msg) => call(client.reconfigure({ payload: msg })),
        coordinatorStatus: call(client.coordinatorStatus()).pipe(
          Effect.map(Option.some),
          Effect.catch((e) => (e._tag === "NotCoordinating" ? Effect.succeed(Option.none()) : Effect.fail(e)))
        ),
        commit: (rackId, epoch, proof) => call(client.commit({ payload: new CommitRequest({ rackId, epoch, proof }) })),
        prepareAndCommit: (config, proof) =>
          call(client.prepareAndCommit({ payload: new PrepareAndCommitRequest({ config, proof }) })),
        proxyCommit: (destination, rackId, epoch, proof) =>
          call(client.proxyCommit({ payload: { destination, request: new CommitRequest({ rackId, epoch, proof }) } })),
        proxyPrepareAndCommit: (destination, config, proof) =>
          call(
            client.proxyPrepareAndCommit({
              payload: { destination, request: new PrepareAndCommitRequest({ config, proof }) }
            })
          )
      }
    }
  )
