/**
 * The attacks of issue 11, each against a rack of real nodes over mutual TLS whose decisions the control
 * plane signed. The attacker holds one valid rack certificate — a sled that never was a member, one that
 * was removed (with its disk), or the coordinator of a committed epoch (with its disk) — completes mutual
 * TLS and the `Hello` as a raw peer, and writes the frames of the attack. Each test asserts that the
 * attack has no effect (persisted state, shares, expunged flag exactly as before), that the node logged a
 * warning naming the attacker and the rule that refused it, and that the rack still commits a new signed
 * epoch that every member unlocks. The last two tests show that plain TCP is never reached by omission.
 * SECURITY.md maps each promise of the threat model to the test behind it.
 */
import { writeFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import * as NodeConfig from "../../src/cli/NodeConfig.ts"
import * as ControlPlaneStore from "../../src/control/ControlPlaneStore.ts"
import * as MemberClient from "../../src/control/MemberClient.ts"
import * as Reconfigurator from "../../src/control/Reconfigurator.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as ProxyOperation from "../../src/runtime/ProxyOperation.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Transport from "../../src/runtime/Transport.ts"
import * as TrustQuorumNode from "../../src/runtime/TrustQuorumNode.ts"
import * as Wire from "../../src/runtime/Wire.ts"
import type { BaseboardId } from "../../src/types/BaseboardId.ts"
import * as Configuration from "../../src/types/Configuration.ts"
import * as Decision from "../../src/types/Decision.ts"
import { CommitAdvance, ExpungedReply, GetShare, Prepare } from "../../src/types/PeerMsg.ts"
import type { PersistentState } from "../../src/types/PersistentState.ts"
import { CommitRequest, PrepareAndCommitRequest } from "../../src/types/Request.ts"
import { runScript } from "../examples/script.ts"
import { eventually, rackId, sled } from "../runtime/rack.ts"
import { tempDir } from "../runtime/tempDir.ts"
import {
  authority,
  commitAt,
  commitEpoch,
  craftConfiguration,
  forger,
  type Member,
  meshAll,
  peerFrame,
  pick,
  prepareEpoch,
  prepareFrame,
  type RawPeer,
  rawPeer,
  shareOf,
  snapshot,
  startRack,
  unlockAll,
  withLogs
} from "./attackRack.ts"

/** The attacker holds no commit proof for the shares it asks for. */
const noProof = new Uint8Array(64)

/** A sled that never was a member: the attacker of most tests. */
const stranger = sled(9)
const ids = (members: ReadonlyArray<Member>): ReadonlyArray<BaseboardId> => members.map((m) => m.id)

/** The `Expunged` replies an attacker received. */
const expungedReplies = (peer: RawPeer): ReadonlyArray<ExpungedReply> =>
  peer.received.flatMap((f) => (f._tag === "Peer" && f.msg.kind._tag === "Expunged" ? [f.msg.kind] : []))

/** Waits (at most 5 s) until the attacker received `count` `Expunged` replies; returns them in order. */
const awaitExpunged = (peer: RawPeer, count: number) =>
  eventually(
    Effect.sync(() => expungedReplies(peer)),
    (replies) => replies.length === count,
    "5 seconds"
  )

/** Whether any frame the attacker received carries a share. */
const receivedShare = (peer: RawPeer): boolean =>
  peer.received.some((f) => f._tag === "Peer" && (f.msg.kind._tag === "Share" || f.msg.kind._tag === "Prepare"))

/** An `Expunged` the control plane really decided: a committed configuration excluding `id`, with a valid proof. */
const assertProvenExpunged = (reply: ExpungedReply, id: BaseboardId, epoch: number) => {
  assert.strictEqual(reply.config.epoch, epoch)
  assert.isFalse(reply.config.isMember(id))
  assert.isTrue(Decision.verifyCommit(authority.publicKey, reply.config, reply.proof))
}

/** Sends a proxy request and returns the destination's answer, decoded as the operation's result. */
const proxied = <P, A, E>(
  peer: RawPeer,
  operation: ProxyOperation.Operation<string, P, A, E>,
  requestId: number,
  payload: P
) =>
  Effect.gen(function* () {
    yield* peer.send(
      new Wire.ProxyRequest({ requestId, operation: operation.tag, payload: operation.json.encodePayload(payload) })
    )
    const response = yield* peer.next((f) => (f._tag === "ProxyResponse" && f.requestId === requestId ? f : undefined))
    return ProxyOperation.decodeResponse(operation, "target", response.outcome, response.value)
  })

/** The typed failure of an exit (none for a success or a defect). */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): Option.Option<E> =>
  Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()

/** The refusal a forged commit proof must meet. */
const notAuthorized = (epoch: number) => ({ _tag: "NotAuthorized", decision: "Commit", epoch, reason: "Signature" })

/** The fields of a typed error that a refusal is compared on. */
const tagged = (error: Option.Option<{ readonly _tag: string }>) =>
  Option.map(error, (e) => ({
    _tag: e._tag,
    decision: "decision" in e ? e.decision : undefined,
    epoch: "epoch" in e ? e.epoch : undefined,
    reason: "reason" in e ? e.reason : undefined
  }))

/** `frame`'s JSON text with the value at `path` replaced, as bytes: what no honest encoder produces. */
const tampered = (frame: Wire.Frame, path: ReadonlyArray<string>, value: unknown): Uint8Array => {
  const replace = (node: unknown, depth: number): unknown => {
    const key = path[depth]
    if (key === undefined) return value
    if (typeof node !== "object" || node === null) throw new Error(`no field ${path.slice(0, depth + 1).join(".")}`)
    const entries: ReadonlyArray<[string, unknown]> = Object.entries(node)
    assert.isTrue(
      entries.some(([k]) => k === key),
      `field ${key}`
    )
    return Object.fromEntries(entries.map(([k, v]) => [k, k === key ? replace(v, depth + 1) : v]))
  }
  const json: unknown = JSON.parse(new TextDecoder().decode(Wire.encode(frame)))
  return new TextEncoder().encode(JSON.stringify(replace(json, 0)))
}

describe("authority attacks over mutual TLS", () => {
  it.live(
    "1. stealing the secret: a planted Prepare listing the attacker is refused everywhere, and after the real next epoch its GetShare is answered only with a proven Expunged",
    withLogs((logs) =>
      Effect.gen(function* () {
        const { ca, members } = yield* startRack([1, 2, 3])
        const [a, b] = pick(members, 1, 2)
        yield* commitEpoch({ coordinator: a, epoch: 1, members, threshold: 2, lastCommittedEpoch: null })
        const credentials = yield* RackPki.issueNodeCertificate(ca, stranger.toString())
        const before = yield* Effect.forEach(members, snapshot)

        // The next epoch with the attacker as a member: coordinated by itself (its own signature), or
        // naming a real member as coordinator (then it is not the sender).
        const selfCoordinated = craftConfiguration({
          epoch: 2,
          members: [...ids(members), stranger],
          threshold: 2,
          coordinator: stranger,
          lastCommittedEpoch: 1
        })
        const memberCoordinated = craftConfiguration({
          epoch: 2,
          members: [...ids(members), stranger],
          threshold: 2,
          coordinator: a.id,
          lastCommittedEpoch: 1
        })
        const peers = yield* Effect.forEach(members, (m) => rawPeer(credentials, m))
        for (const [i, m] of members.entries()) {
          const peer = peers[i]
          if (peer === undefined) throw new Error("peer")
          yield* peer.send(prepareFrame(selfCoordinated, m.id))
          yield* logs.awaitRefusal(m.id, stranger, "PrepareUnauthorized")
          yield* peer.send(prepareFrame(memberCoordinated, m.id))
          yield* logs.awaitRefusal(m.id, stranger, "PrepareNotFromCoordinator")
          // Asking for the committed epoch's share now: only a proven Expunged comes back.
          yield* peer.send(peerFrame(new GetShare({ epoch: 1, proof: noProof })))
          const [reply] = yield* awaitExpunged(peer, 1)
          if (reply === undefined) throw new Error("reply")
          assertProvenExpunged(reply, stranger, 1)
        }
        assert.deepStrictEqual(yield* Effect.forEach(members, snapshot), before)

        // The control plane's real next epoch commits at every member.
        yield* commitEpoch({ coordinator: b, epoch: 2, members, threshold: 2, lastCommittedEpoch: 1 })
        for (const peer of peers) {
          yield* peer.send(peerFrame(new GetShare({ epoch: 2, proof: noProof })))
          yield* peer.send(peerFrame(new GetShare({ epoch: 1, proof: noProof })))
          const [first, second, third] = yield* awaitExpunged(peer, 3)
          if (first === undefined || second === undefined || third === undefined) throw new Error("replies")
          assertProvenExpunged(first, stranger, 1)
          assertProvenExpunged(second, stranger, 2)
          assertProvenExpunged(third, stranger, 2)
          assert.isFalse(receivedShare(peer))
          assert.isFalse(peer.received.some((f) => f._tag === "Peer" && f.msg.kind._tag === "PrepareAck"))
        }
        const after = yield* Effect.forEach(members, snapshot)
        assert.deepStrictEqual(
          after.map((s) => s.summary),
          members.map(() => ({ configs: [1, 2], shares: [1, 2], commits: [1, 2], expunged: null }))
        )
        assert.deepStrictEqual(
          after.map((s) => s.alarms),
          members.map(() => [])
        )
        yield* unlockAll(members, 2)
      })
    )
  )

  it.live(
    "1. stealing the secret, end to end: planted Prepares at every member do not stop the Reconfigurator committing the next epoch, and the attacker gets no share",
    withLogs((logs) =>
      Effect.gen(function* () {
        const { ca, members } = yield* startRack([1, 2, 3])
        const driver = yield* Reconfigurator.make({
          rackId,
          authority,
          store: ControlPlaneStore.memory(),
          clientOf: (id) =>
            Option.map(Option.fromNullishOr(members.find((m) => m.id.key === id.key)), (m) =>
              MemberClient.fromNode(m.node)
            ),
          options: { pollInterval: "10 millis", deadline: "10 seconds" }
        })
        assert.strictEqual((yield* driver.reconfigure(ids(members))).epoch, 1)
        const credentials = yield* RackPki.issueNodeCertificate(ca, stranger.toString())
        const planted = craftConfiguration({
          epoch: 2,
          members: [...ids(members), stranger],
          threshold: 2,
          coordinator: stranger,
          lastCommittedEpoch: 1
        })
        const peers = yield* Effect.forEach(members, (m) => rawPeer(credentials, m))
        for (const [i, m] of members.entries()) {
          yield* peers[i]?.send(prepareFrame(planted, m.id)) ?? Effect.die("peer")
          yield* logs.awaitRefusal(m.id, stranger, "PrepareUnauthorized")
        }
        const plan = yield* driver.reconfigure(ids(members))
        assert.strictEqual(plan.epoch, 2)
        assert.strictEqual(plan.phase, "Committed")
        for (const peer of peers) {
          yield* peer.send(peerFrame(new GetShare({ epoch: 2, proof: noProof })))
          const reply = yield* peer.next((f) =>
            f._tag === "Peer" && f.msg.kind._tag === "Expunged" ? f.msg.kind : undefined
          )
          assertProvenExpunged(reply, stranger, 2)
          assert.isFalse(receivedShare(peer))
        }
        yield* unlockAll(members, 2)
      })
    )
  )

  it.live(
    "2. destroying the secret: a Prepare for the committed epoch — forged, or re-signed by its own coordinator's genuine reconfiguration with new shares — leaves every committed share on disk as it was",
    withLogs((logs) =>
      Effect.gen(function* () {
        const { ca, members } = yield* startRack([1, 2, 3, 4])
        const [a, b] = pick(members, 1, 2)
        const others = members.filter((m) => m !== a)
        const { config } = yield* commitEpoch({
          coordinator: a,
          epoch: 1,
          members,
          threshold: 3,
          lastCommittedEpoch: null
        })
        const secret = yield* unlockAll(members, 1)
        const before = yield* Effect.forEach(members, snapshot)

        // A stranger's Prepare of epoch 1, coordinated by itself: its reconfiguration is not signed.
        const credentials = yield* RackPki.issueNodeCertificate(ca, stranger.toString())
        yield* Effect.scoped(
          Effect.forEach(others, (m) =>
            Effect.gen(function* () {
              const peer = yield* rawPeer(credentials, m)
              const crafted = craftConfiguration({
                epoch: 1,
                members: ids(members),
                threshold: 3,
                coordinator: stranger,
                lastCommittedEpoch: null
              })
              yield* peer.send(prepareFrame(crafted, m.id))
              yield* logs.awaitRefusal(m.id, stranger, "PrepareUnauthorized")
              yield* peer.send(peerFrame(new GetShare({ epoch: 1, proof: noProof })))
              yield* peer.next((f) => (f._tag === "Peer" && f.msg.kind._tag === "Expunged" ? f : undefined))
              assert.isFalse(receivedShare(peer))
            })
          )
        )

        // The coordinator of epoch 1 is taken over (its certificate and disk): it re-sends epoch 1 with the
        // control plane's genuine reconfiguration signature, but a secret and shares of its own.
        yield* a.stop
        const genuine = Option.getOrUndefined(a.ledger.current())?.configs.get(1)
        if (genuine === undefined) throw new Error("sled 1 stored no epoch 1")
        assert.isTrue(genuine.authorization.signature.length === 64)
        const resplit = craftConfiguration({
          epoch: 1,
          members: genuine.memberIds,
          threshold: genuine.threshold,
          coordinator: a.id,
          lastCommittedEpoch: null,
          authorization: genuine.authorization
        })
        assert.isTrue(Decision.verifyReconfiguration(authority.publicKey, resplit.configuration))
        yield* Effect.scoped(
          Effect.forEach(others, (m) =>
            Effect.gen(function* () {
              const peer = yield* rawPeer(a.credentials, m)
              yield* peer.send(prepareFrame(resplit, m.id))
              yield* logs.awaitRefusal(m.id, a.id, "PrepareForStaleEpoch")
              assert.isFalse(peer.received.some((f) => f._tag === "Peer" && f.msg.kind._tag === "PrepareAck"))
            })
          )
        )
        const after = yield* Effect.forEach(others, snapshot)
        // Not one write: each ledger holds the very state it held before the attack.
        assert.deepStrictEqual(
          after,
          before.filter((_, i) => members[i] !== a)
        )
        for (const [i, m] of others.entries()) {
          const state = after[i]?.state
          assert.isTrue(state !== undefined && state === Option.getOrUndefined(m.ledger.current()))
          assert.deepStrictEqual(state?.configs.get(1), config)
        }

        // The coordinator is recovered; every member unlocks the original secret from the shares on disk,
        // and the next signed epoch commits.
        yield* a.start
        yield* meshAll(members)
        yield* Effect.forEach(members, (m) => m.node.clearSecrets, { discard: true })
        assert.strictEqual(yield* unlockAll(members, 1), secret)
        yield* commitEpoch({ coordinator: b, epoch: 2, members, threshold: 3, lastCommittedEpoch: 1 })
        yield* unlockAll(members, 2)
      })
    )
  )

  it.live(
    "2. wedging a member: a configuration re-split by its own coordinator, planted at a member that missed its Prepare, does not keep the control plane's signed PrepareAndCommit from committing the real one",
    withLogs((logs) =>
      Effect.gen(function* () {
        const { members } = yield* startRack([1, 2, 3, 4])
        const [a, b, c, late] = pick(members, 1, 2, 3, 4)
        yield* commitEpoch({ coordinator: a, epoch: 1, members, threshold: 2, lastCommittedEpoch: null })
        // Sled 4 is down while epoch 2 is prepared and committed at the others (K + Z = 2 + 0 acks suffice).
        yield* late.stop
        const config2 = yield* prepareEpoch({
          coordinator: a,
          epoch: 2,
          members,
          threshold: 2,
          lastCommittedEpoch: 1,
          acks: 3
        })
        const proof2 = yield* commitAt(config2, [a, b, c])
        const secret = yield* unlockAll([a, b, c], 2)

        // Whoever holds the coordinator's certificate and disk re-splits epoch 2 under the control plane's
        // genuine reconfiguration signature and prepares sled 4 with it before the control plane reaches it.
        yield* a.stop
        yield* late.start
        yield* meshAll([b, c, late])
        const resplitArgs = {
          epoch: 2,
          members: config2.memberIds,
          threshold: config2.threshold,
          coordinator: a.id,
          lastCommittedEpoch: 1
        }
        const resplit = craftConfiguration({ ...resplitArgs, authorization: config2.authorization })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const peer = yield* rawPeer(a.credentials, late)
            // The real configuration with a share that is not sled 4's: refused, nothing stored.
            yield* peer.send(peerFrame(new Prepare({ config: config2, share: shareOf(resplit, late.id) })))
            yield* logs.awaitRefusal(late.id, a.id, "PrepareShareMismatch")
            assert.deepStrictEqual((yield* late.node.status).persistentState.configs, [1])
            yield* peer.send(prepareFrame(resplit, late.id))
            // Nothing in the Prepare tells it apart from the coordinator's honest one: it is stored.
            yield* peer.next((f) => (f._tag === "Peer" && f.msg.kind._tag === "PrepareAck" ? f : undefined))
            // But only once: another split of the same epoch meets the configuration now stored.
            yield* peer.send(
              prepareFrame(craftConfiguration({ ...resplitArgs, authorization: config2.authorization }), late.id)
            )
            yield* logs.awaitRefusal(late.id, a.id, "PrepareConfigurationMismatch")
          })
        )

        // The control plane's PrepareAndCommit carries the commit signature over the real configuration:
        // it must win over a prepared configuration the control plane never signed a commit of.
        const committed = yield* eventually(
          late.node.prepareAndCommit(config2, proof2),
          (s) => s === "Committed",
          "5 seconds"
        )
        assert.strictEqual(committed, "Committed")
        // The real configuration replaced the planted one, and the equivocation stays visible as an alarm.
        const stored = Option.getOrUndefined(late.ledger.current())?.configs.get(2)
        assert.isTrue(stored !== undefined && Configuration.equals(stored, config2))
        const alarms = (yield* late.node.status).alarms
        assert.strictEqual(alarms.length, 1)
        const [alarm] = alarms
        assert.isTrue(
          alarm?._tag === "MismatchedConfigurations" &&
            alarm.from === "Nexus" &&
            Configuration.equals(alarm.config1, resplit.configuration) &&
            Configuration.equals(alarm.config2, config2)
        )
        assert.strictEqual(yield* unlockAll([b, c, late], 2), secret)
        yield* a.start
        yield* meshAll(members)
        yield* commitEpoch({ coordinator: b, epoch: 3, members, threshold: 2, lastCommittedEpoch: 2 })
        yield* unlockAll(members, 3)
      })
    )
  )

  it.live(
    "3. fabricating an epoch: a new sled is not captured into a made-up rack, and a forged or replayed commit proof — proxied, or in a CommitAdvance — commits nothing",
    withLogs((logs) =>
      Effect.gen(function* () {
        const { ca, members } = yield* startRack([1, 2, 3, 5])
        const rack = members.filter((m) => m.index !== 5)
        const [a, b, fresh] = pick(members, 1, 2, 5)
        yield* commitEpoch({ coordinator: a, epoch: 1, members: rack, threshold: 2, lastCommittedEpoch: null })
        const credentials = yield* RackPki.issueNodeCertificate(ca, stranger.toString())

        // The sled waiting to be added: a made-up rack in which the attacker coordinates.
        const madeUpRack = "5ca1ab1e-0000-4000-8000-00000000dead"
        const madeUp = craftConfiguration({
          rackId: madeUpRack,
          epoch: 1,
          members: [fresh.id, sled(8), stranger],
          threshold: 2,
          coordinator: stranger,
          lastCommittedEpoch: null
        })
        const forgedProof = Decision.signCommit(forger, madeUp.configuration)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const peer = yield* rawPeer(credentials, fresh)
            yield* peer.send(prepareFrame(madeUp, fresh.id))
            yield* logs.awaitRefusal(fresh.id, stranger, "PrepareUnauthorized")
            const answer = yield* proxied(
              peer,
              ProxyOperation.PrepareAndCommit,
              1,
              new PrepareAndCommitRequest({ config: madeUp.configuration, proof: forgedProof })
            )
            assert.deepStrictEqual(tagged(failureOf(answer)), Option.some(notAuthorized(1)))
            yield* logs.awaitRefusal(fresh.id, stranger, "NotAuthorized")
            yield* peer.send(
              peerFrame(new CommitAdvance({ config: madeUp.configuration, proof: forgedProof }), madeUpRack)
            )
            yield* logs.awaitRefusal(fresh.id, stranger, "CommitAdvanceUnauthorized")
          })
        )
        // Never written: the sled is as new as it was.
        assert.isTrue(Option.isNone(fresh.ledger.current()))
        assert.deepStrictEqual((yield* fresh.node.status).persistentState, {
          configs: [],
          shares: [],
          commits: [],
          expunged: null
        })

        // The control plane adds the sled: epoch 2 is prepared everywhere but not yet committed. The
        // attacker tries to commit it first at a member, with garbage, with a key of its own, and with the
        // genuine proof of epoch 1 (which any certificate holder obtains in an Expunged reply).
        const config2 = yield* prepareEpoch({ coordinator: a, epoch: 2, members, threshold: 3, lastCommittedEpoch: 1 })
        const before = yield* snapshot(b)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const peer = yield* rawPeer(credentials, b)
            yield* peer.send(peerFrame(new GetShare({ epoch: 1, proof: noProof })))
            const expunged = yield* peer.next((f) =>
              f._tag === "Peer" && f.msg.kind._tag === "Expunged" ? f.msg.kind : undefined
            )
            assertProvenExpunged(expunged, stranger, 1)
            const proofs = [new Uint8Array(64), Decision.signCommit(forger, config2), expunged.proof]
            for (const [i, proof] of proofs.entries()) {
              const answer = yield* proxied(
                peer,
                ProxyOperation.Commit,
                10 + i,
                new CommitRequest({ rackId, epoch: 2, proof })
              )
              assert.deepStrictEqual(tagged(failureOf(answer)), Option.some(notAuthorized(2)))
            }
            yield* logs.awaitRefusal(b.id, stranger, "NotAuthorized")
            // A CommitAdvance of a made-up epoch 2 that includes the target, with the replayed proof.
            const fabricated = craftConfiguration({
              epoch: 2,
              members: [...ids(rack), stranger],
              threshold: 2,
              coordinator: stranger,
              lastCommittedEpoch: 1
            })
            yield* peer.send(peerFrame(new CommitAdvance({ config: fabricated.configuration, proof: expunged.proof })))
            yield* logs.awaitRefusal(b.id, stranger, "CommitAdvanceUnauthorized")
          })
        )
        assert.deepStrictEqual(yield* snapshot(b), before)
        assert.deepStrictEqual(before.summary.commits, [1])

        yield* commitAt(config2, members)
        yield* unlockAll(members, 2)
      })
    )
  )

  it.live(
    "4. expunging anyone: an Expunged with a forged proof, or with a genuine committed configuration that still includes the target, expunges no one",
    withLogs((logs) =>
      Effect.gen(function* () {
        const { members } = yield* startRack([1, 2, 3, 4])
        const [a, b, c, removed] = pick(members, 1, 2, 3, 4)
        const rack = [a, b, c]
        const first = yield* commitEpoch({ coordinator: a, epoch: 1, members, threshold: 2, lastCommittedEpoch: null })
        yield* commitEpoch({ coordinator: b, epoch: 2, members: rack, threshold: 2, lastCommittedEpoch: 1 })
        // Sled 4 was removed; whoever holds its certificate and disk has epoch 1's genuine proof.
        yield* removed.stop
        const disk = Option.getOrUndefined(removed.ledger.current())
        assert.deepStrictEqual(disk?.proofs.get(1), first.proof)
        const before = yield* Effect.forEach(rack, snapshot)

        yield* Effect.scoped(
          Effect.forEach(rack, (target) =>
            Effect.gen(function* () {
              const peer = yield* rawPeer(removed.credentials, target)
              // The target itself hands out the genuine proof of epoch 2, which excludes the attacker.
              yield* peer.send(peerFrame(new GetShare({ epoch: 1, proof: noProof })))
              const genuine2 = yield* peer.next((f) =>
                f._tag === "Peer" && f.msg.kind._tag === "Expunged" ? f.msg.kind : undefined
              )
              assertProvenExpunged(genuine2, removed.id, 2)
              // A made-up epoch 3 without the target, "proven" with the attacker's own key.
              const without = craftConfiguration({
                epoch: 3,
                members: [...ids(rack).filter((id) => id.key !== target.id.key), removed.id],
                threshold: 2,
                coordinator: removed.id,
                lastCommittedEpoch: 2
              })
              yield* peer.send(
                peerFrame(
                  new ExpungedReply({
                    config: without.configuration,
                    proof: Decision.signCommit(forger, without.configuration)
                  })
                )
              )
              yield* logs.awaitRefusal(target.id, removed.id, "ExpungedUnauthorized")
              // Genuine committed configurations with genuine proofs — that still include the target.
              yield* peer.send(peerFrame(new ExpungedReply({ config: genuine2.config, proof: genuine2.proof })))
              yield* peer.send(peerFrame(new ExpungedReply({ config: first.config, proof: first.proof })))
              yield* eventually(
                Effect.sync(() => logs.refusals(target.id, removed.id, "ExpungedStillAMember").length),
                (n) => n === 2
              )
            })
          )
        )
        const after = yield* Effect.forEach(rack, snapshot)
        assert.deepStrictEqual(after, before)
        assert.deepStrictEqual(
          after.map((s) => s.summary.expunged),
          [null, null, null]
        )

        // Still members: they commit the next signed epoch and unlock it.
        yield* commitEpoch({ coordinator: c, epoch: 3, members: rack, threshold: 2, lastCommittedEpoch: 2 })
        yield* unlockAll(rack, 3)
      })
    )
  )

  it.live(
    "5. unbounded inputs: absurd epochs and a 600 KB share are refused — decoding closes that link, the rest is refused by bounds or authority — and the node still reconfigures",
    withLogs((logs) =>
      Effect.gen(function* () {
        const { ca, members } = yield* startRack([1, 2, 3])
        const [a, b] = pick(members, 1, 2)
        yield* commitEpoch({ coordinator: a, epoch: 1, members, threshold: 2, lastCommittedEpoch: null })
        const credentials = yield* RackPki.issueNodeCertificate(ca, stranger.toString())
        const before = yield* snapshot(a)
        const advance = (epoch: number) => {
          const crafted = craftConfiguration({
            epoch,
            members: [...ids(members), stranger],
            threshold: 2,
            coordinator: stranger,
            lastCommittedEpoch: 1
          })
          return peerFrame(
            new CommitAdvance({
              config: crafted.configuration,
              proof: Decision.signCommit(forger, crafted.configuration)
            })
          )
        }

        // Epoch 2^53 − 1 does not decode (epochs end at 2^40): the link is closed and the refusal logged.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const peer = yield* rawPeer(credentials, a)
            yield* peer.sendPayload(tampered(advance(2), ["msg", "kind", "config", "epoch"], 2 ** 53 - 1))
            yield* peer.closed
            yield* logs.awaitRefusal(a.id, stranger, "DecodeError")
          })
        )
        // Near 2^40 it decodes, and bounds or the authority refuse it.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const peer = yield* rawPeer(credentials, a)
            yield* peer.send(advance(2 ** 40))
            yield* logs.awaitRefusal(a.id, stranger, "CommitAdvanceOutOfBounds")
            yield* peer.send(advance(2 ** 40 - 1))
            yield* logs.awaitRefusal(a.id, stranger, "CommitAdvanceUnauthorized")
            const farPrepare = craftConfiguration({
              epoch: 2 ** 40,
              members: [...ids(members), stranger],
              threshold: 2,
              coordinator: stranger,
              lastCommittedEpoch: 1
            })
            yield* peer.send(prepareFrame(farPrepare, a.id))
            yield* logs.awaitRefusal(a.id, stranger, "PrepareOutOfBounds")
          })
        )
        // A Prepare whose share is 600 KB: the frame fits the 1 MiB limit, but a share is 32 bytes.
        const big = craftConfiguration({
          epoch: 2,
          members: [...ids(members), stranger],
          threshold: 2,
          coordinator: stranger,
          lastCommittedEpoch: 1
        })
        const oversized = tampered(
          prepareFrame(big, a.id),
          ["msg", "kind", "share", "y"],
          Buffer.alloc(600_000, 7).toString("base64")
        )
        assert.isAbove(oversized.length, 600_000)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const peer = yield* rawPeer(credentials, a)
            yield* peer.sendPayload(oversized)
            yield* peer.closed
            yield* eventually(
              Effect.sync(() => logs.refusals(a.id, stranger, "DecodeError").length),
              (n) => n === 2
            )
          })
        )
        // The ledger was not written once, and the node's state is what it was.
        assert.deepStrictEqual(yield* snapshot(a), before)

        yield* commitEpoch({ coordinator: b, epoch: 2, members, threshold: 2, lastCommittedEpoch: 1 })
        yield* unlockAll(members, 2)
      })
    )
  )
})

/** A node config without `tls` (plus `extra`) written into a fresh directory of the test's scope; its path. */
const plainConfig = (name: string, extra: object = {}) =>
  Effect.gen(function* () {
    const dir = yield* tempDir("attacks-config")
    const path = `${dir}/${name}.json`
    yield* Effect.sync(() => {
      writeFileSync(`${dir}/authority.pub`, authority.publicKey.toPem())
      const config = {
        id: "913-0000019:1",
        peer: { host: "127.0.0.1", port: 0 },
        api: { host: "127.0.0.1", port: 0 },
        authority: `${dir}/authority.pub`,
        ledger: [`${dir}/ledger-a`],
        peers: [],
        ...extra
      }
      writeFileSync(path, JSON.stringify(config))
    })
    return path
  })

describe("plain TCP by omission", () => {
  it.live(
    '6. plain TCP by omission: a node config without tls is refused with a ConfigError unless it says "insecure": true',
    () =>
      Effect.gen(function* () {
        const plain = yield* plainConfig("plain")
        const error = yield* Effect.flip(NodeConfig.load(plain))
        assert.strictEqual(error._tag, "ConfigError")
        assert.strictEqual(error.path, plain)
        assert.match(error.message, /no "tls" section: the peer network would be plain TCP/)
        assert.match(error.message, /"insecure": true/)

        const optedIn = yield* NodeConfig.load(yield* plainConfig("insecure", { insecure: true }))
        assert.strictEqual(optedIn.insecure, true)
        assert.strictEqual(optedIn.tls, undefined)
        // `insecure: false` is not an opt-in: only the literal true is.
        const notTrue = yield* Effect.flip(NodeConfig.load(yield* plainConfig("false", { insecure: false })))
        assert.strictEqual(notTrue._tag, "ConfigError")
      }).pipe(Effect.scoped)
  )

  it.live(
    "6. `tq node run` with a config without tls exits non-zero with the ConfigError and never listens",
    () =>
      Effect.gen(function* () {
        const plain = yield* plainConfig("plain")
        // A process of its own: generous on a loaded machine, and killed with the scope if it hangs.
        const { code, output } = yield* runScript(["src/cli/tq.ts", "node", "run", "--config", plain]).pipe(
          Effect.timeout("40 seconds")
        )
        assert.notStrictEqual(code, 0)
        assert.include(output, `ConfigError: config ${plain}: no "tls" section`)
        assert.notInclude(output, "peer-listening")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "6. a node on Transport.insecureTcp warns at start that any process may claim any identity; one on mutual TLS does not",
    withLogs((logs) =>
      Effect.gen(function* () {
        const ca = yield* RackPki.makeRackCa()
        const start = (index: number, transport: Transport.Transport) =>
          TrustQuorumNode.make({
            id: sled(index),
            listen: { host: "127.0.0.1", port: 0 },
            transport,
            authority: authority.publicKey,
            ledger: Ledger.memory<PersistentState>()
          })
        yield* start(1, Transport.insecureTcp)
        yield* start(2, Transport.tls(yield* RackPki.issueNodeCertificate(ca, sled(2).toString())))
        const warnings = logs.lines.filter((l) => l.level === "Warn" && l.message.includes("plain TCP"))
        assert.deepStrictEqual(
          warnings.map((l) => [l.annotations.node, l.message]),
          [
            [
              sled(1).toString(),
              "the peer network runs on plain TCP (Transport.insecureTcp): any process that can connect may claim any identity; use mutual TLS outside tests"
            ]
          ]
        )
      })
    )
  )
})
