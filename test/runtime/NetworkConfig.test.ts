import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Result, Stream, SubscriptionRef } from "effect"
import * as Frame from "../../src/runtime/Frame.ts"
import * as Ledger from "../../src/runtime/Ledger.ts"
import * as RackPki from "../../src/runtime/RackPki.ts"
import * as Wire from "../../src/runtime/Wire.ts"
import * as Decision from "../../src/types/Decision.ts"
import { maxBlobBytes, NetworkConfig, summary } from "../../src/types/NetworkConfig.ts"
import { authority, forger, logCapture, type Member, meshAll, rawPeer, startMember } from "../security/attackRack.ts"
import { rackId, sled } from "./rack.ts"

const otherRack = "99999999-8888-4777-8666-555555555555"
const blobOf = (generation: number) =>
  new TextEncoder().encode(`{"ntp":["10.0.0.${generation}"],"generation":${generation}}`)
/** The control plane's signed config of `generation`. */
const signed = (generation: number, blob: Uint8Array = blobOf(generation), rack: string = rackId) =>
  Decision.networkConfig(authority, { rackId: rack, generation, blob })

/** An error's tag and fields, for exact comparison. */
const fields = (e: { readonly _tag: string }): Record<string, unknown> => ({ ...e, _tag: e._tag })

/** The generation a node holds (0 for none). */
const generationOf = (m: Member) => Effect.map(m.node.networkConfig, (c) => (Option.isSome(c) ? c.value.generation : 0))

/** Waits (at most 5 s) for the node's config to reach `generation`, on its change stream. */
const awaitGeneration = (m: Member, generation: number) =>
  SubscriptionRef.changes(m.node.networkConfigChanges).pipe(
    Stream.filter((c) => Option.isSome(c) && c.value.generation >= generation),
    Stream.runHead,
    Effect.timeoutOrElse({
      duration: "5 seconds",
      orElse: () => Effect.fail(new Error(`${m.id} did not reach network config generation ${generation} in 5 s`))
    }),
    Effect.andThen(generationOf(m))
  )

describe("the NetworkConfig frame", () => {
  it("a blob at the size bound fits one frame with room to spare, and round-trips through the wire codec", () => {
    const config = signed(7, new Uint8Array(maxBlobBytes).fill(0xff))
    const payload = Wire.encode(new Wire.NetworkConfig({ config }))
    // base64 grows the blob by 4/3: about 342 KiB of a 1 MiB frame.
    assert.isBelow(payload.length, Frame.maxPayloadBytes / 2)
    const decoded = Wire.decode(payload)
    assert.isTrue(Result.isSuccess(decoded) && decoded.success._tag === "NetworkConfig")
    if (Result.isSuccess(decoded) && decoded.success._tag === "NetworkConfig") {
      assert.strictEqual(decoded.success.config.generation, 7)
      assert.deepStrictEqual(decoded.success.config.blob, config.blob)
      assert.deepStrictEqual(decoded.success.config.signature, config.signature)
    }
  })
})

describe("network-config replication over mutual TLS", () => {
  it.live("a rack converges on the highest generation though nodes join late, restart and miss broadcasts", () =>
    Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const [s1, s2, s3, s4, s5] = yield* Effect.forEach([1, 2, 3, 4, 5], (i) => startMember(ca, i))
      if (!s1 || !s2 || !s3 || !s4 || !s5) return assert.fail("five sleds")
      yield* Effect.all([s4.stop, s5.stop])
      yield* meshAll([s1, s2, s3])

      yield* s1.node.updateNetworkConfig(signed(1))
      for (const m of [s1, s2, s3]) assert.strictEqual(yield* awaitGeneration(m, 1), 1)

      // Sled 3 is down while generation 2 is broadcast; sled 4 has not joined yet.
      yield* s3.stop
      yield* s2.node.updateNetworkConfig(signed(2))
      assert.strictEqual(yield* awaitGeneration(s1, 2), 2)

      yield* s3.start
      // Reloaded from its ledger before any link: the generation it held.
      assert.strictEqual(yield* generationOf(s3), 1)
      yield* s4.start
      assert.strictEqual(yield* generationOf(s4), 0)
      yield* meshAll([s1, s2, s3, s4])
      for (const m of [s3, s4]) assert.strictEqual(yield* awaitGeneration(m, 2), 2)

      // Sled 1 misses generation 3 from the late joiner; sled 5 joins after it.
      yield* s1.stop
      yield* s4.node.updateNetworkConfig(signed(3))
      yield* s1.start
      yield* s5.start
      const rack = [s1, s2, s3, s4, s5]
      yield* meshAll(rack)
      const generations = yield* Effect.forEach(rack, (m) => awaitGeneration(m, 3))
      assert.deepStrictEqual(generations, [3, 3, 3, 3, 3])
      const digests = yield* Effect.forEach(rack, (m) =>
        Effect.map(m.node.status, (s) => s.networkConfig?.digest ?? "none")
      )
      assert.deepStrictEqual(
        digests,
        rack.map(() => summary(signed(3)).digest)
      )
      // Also in a status read through a member's proxy (answered from the destination's snapshot).
      const remote = yield* s1.node.proxy.status(s5.id)
      assert.deepStrictEqual(remote.networkConfig, summary(signed(3)))
    }).pipe(Effect.scoped)
  )

  it.live(
    "an update at or below the current generation is StaleNetworkConfig; unsigned, forged, oversize and other-rack updates are refused",
    () =>
      Effect.gen(function* () {
        const ca = yield* RackPki.makeRackCa()
        const a = yield* startMember(ca, 1)
        yield* a.node.updateNetworkConfig(signed(5))

        const equal = yield* Effect.flip(a.node.updateNetworkConfig(signed(5)))
        assert.deepStrictEqual(fields(equal), {
          _tag: "StaleNetworkConfig",
          attemptedGeneration: 5,
          currentGeneration: 5
        })
        assert.match(equal.message, /already holds network config generation 5/)
        const older = yield* Effect.flip(a.node.updateNetworkConfig(signed(4)))
        assert.deepStrictEqual(fields(older), {
          _tag: "StaleNetworkConfig",
          attemptedGeneration: 4,
          currentGeneration: 5
        })

        const unsigned = new NetworkConfig({ ...signed(6), signature: new Uint8Array(0) })
        const refusedUnsigned = yield* Effect.flip(a.node.updateNetworkConfig(unsigned))
        assert.deepStrictEqual(fields(refusedUnsigned), {
          _tag: "NetworkConfigNotAuthorized",
          generation: 6,
          reason: "Unsigned"
        })
        const forged = Decision.networkConfig(forger, { rackId, generation: 6, blob: blobOf(6) })
        const refusedForged = yield* Effect.flip(a.node.updateNetworkConfig(forged))
        assert.deepStrictEqual(fields(refusedForged), {
          _tag: "NetworkConfigNotAuthorized",
          generation: 6,
          reason: "Signature"
        })
        const huge = yield* Effect.flip(a.node.updateNetworkConfig(signed(6, new Uint8Array(maxBlobBytes + 1))))
        assert.deepStrictEqual(fields(huge), {
          _tag: "NetworkConfigTooLarge",
          bytes: maxBlobBytes + 1,
          limit: maxBlobBytes
        })
        const wrongRack = yield* Effect.flip(a.node.updateNetworkConfig(signed(6, blobOf(6), otherRack)))
        assert.deepStrictEqual(fields(wrongRack), { _tag: "NetworkConfigWrongRack", expected: rackId, got: otherRack })

        assert.strictEqual(yield* generationOf(a), 5)
        assert.strictEqual(Option.getOrUndefined(yield* a.networkConfigLedger.load)?.generation, 5)
      }).pipe(Effect.scoped)
  )

  it.live(
    "a raw peer's unsigned, forged, oversize or other-rack push is refused and logged, and changes nothing",
    () => {
      const logs = logCapture()
      return Effect.gen(function* () {
        const ca = yield* RackPki.makeRackCa()
        const a = yield* startMember(ca, 1)
        const b = yield* startMember(ca, 2)
        yield* meshAll([a, b])
        yield* a.node.updateNetworkConfig(signed(1))
        assert.strictEqual(yield* awaitGeneration(b, 1), 1)

        const stranger = yield* RackPki.issueNodeCertificate(ca, sled(9).toString())
        const peer = yield* rawPeer(stranger, b)
        // On link-up the node pushes what it holds.
        const pushed = yield* peer.next((f) => (f._tag === "NetworkConfig" ? f.config : undefined))
        assert.strictEqual(pushed.generation, 1)

        const push = (config: NetworkConfig) => peer.send(new Wire.NetworkConfig({ config }))
        yield* push(new NetworkConfig({ ...signed(7), signature: new Uint8Array(0) }))
        yield* logs.awaitRefusal(b.id, peer.id, "NetworkConfigUnsigned")
        yield* push(Decision.networkConfig(forger, { rackId, generation: 7, blob: blobOf(7) }))
        yield* logs.awaitRefusal(b.id, peer.id, "NetworkConfigBadSignature")
        // A genuine signature over another blob: the digest no longer matches.
        yield* push(new NetworkConfig({ ...signed(7), blob: blobOf(8) }))
        yield* push(signed(7, new Uint8Array(maxBlobBytes + 1)))
        yield* logs.awaitRefusal(b.id, peer.id, "NetworkConfigTooLarge")
        yield* push(signed(7, blobOf(7), otherRack))
        yield* logs.awaitRefusal(b.id, peer.id, "NetworkConfigWrongRack")
        yield* push(signed(1, blobOf(99)))
        yield* logs.awaitRefusal(b.id, peer.id, "NetworkConfigConflict")

        assert.strictEqual(logs.refusals(b.id, peer.id, "NetworkConfigBadSignature").length, 2)
        assert.strictEqual(yield* generationOf(b), 1)
        assert.strictEqual(yield* generationOf(a), 1)
        assert.strictEqual(Option.getOrUndefined(yield* b.networkConfigLedger.load)?.generation, 1)
        // The link stays up: a refused push is not a broken peer, and a genuine config it relays is adopted.
        yield* push(signed(2))
        assert.strictEqual(yield* awaitGeneration(a, 2), 2)
        assert.strictEqual(yield* generationOf(b), 2)
      }).pipe(Effect.scoped, Effect.provide(logs.layer))
    }
  )

  it.live("a restart reloads the config from its file ledger before any peer traffic, and pushes it first", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "tq-network-config-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const ca = yield* RackPki.makeRackCa()
      const paths = [join(dir, "a.json"), join(dir, "b.json")]
      const a = yield* startMember(ca, 1, Ledger.file({ paths, schema: NetworkConfig }))
      yield* a.node.updateNetworkConfig(signed(4))
      yield* a.stop
      yield* a.start
      assert.strictEqual(yield* generationOf(a), 4)
      assert.strictEqual(Option.getOrUndefined(yield* SubscriptionRef.get(a.node.networkConfigChanges))?.generation, 4)
      assert.strictEqual((yield* a.node.status).networkConfig?.generation, 4)

      const stranger = yield* RackPki.issueNodeCertificate(ca, sled(9).toString())
      const peer = yield* rawPeer(stranger, a)
      const first = yield* peer.next((f) => f)
      assert.strictEqual(first._tag, "NetworkConfig")
      assert.strictEqual(first._tag === "NetworkConfig" ? first.config.generation : 0, 4)

      // Fail-closed: copies that exist but do not verify stop the node from starting, rather than start empty.
      yield* a.stop
      for (const p of paths) writeFileSync(p, "{ not a ledger")
      const refused = yield* Effect.flip(a.start)
      assert.instanceOf(refused, Ledger.LedgerCorrupt)
    }).pipe(Effect.scoped)
  )

  it.live("a network-config write that reaches no copy stops the node", () =>
    Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const ledger = Ledger.memory<NetworkConfig>()
      const a = yield* startMember(ca, 1, ledger)
      ledger.failNextWrites(1)
      const failed = yield* Effect.flip(a.node.updateNetworkConfig(signed(1)))
      assert.strictEqual(failed._tag, "NodeStopped")
      assert.match(failed.message, /network-config ledger write failed/)
      assert.strictEqual((yield* Effect.flip(a.node.status))._tag, "NodeStopped")
      assert.isTrue(Option.isNone(yield* a.node.networkConfig))
    }).pipe(Effect.scoped)
  )
})
