import { X509Certificate } from "node:crypto"
import { readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as RackPki from "../../src/runtime/RackPki.ts"
import { tempDir } from "./tempDir.ts"

const may2030 = Date.UTC(2030, 4, 1, 12, 0, 0)
const day = 86_400_000

describe("RackPki", () => {
  it.effect("the rack CA is a self-signed CA certificate valid for a year from the clock's time", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(may2030)
      const ca = yield* RackPki.makeRackCa("rack 7")
      const cert = new X509Certificate(ca.certPem)
      assert.isTrue(cert.ca)
      assert.isTrue(cert.verify(cert.publicKey))
      assert.strictEqual(cert.subject, "CN=rack 7")
      assert.strictEqual(cert.issuer, "CN=rack 7")
      assert.strictEqual(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1")
      assert.strictEqual(cert.validFromDate.getTime(), may2030 - 60_000)
      assert.strictEqual(cert.validToDate.getTime(), may2030 + 365 * day)
    })
  )

  it.effect("a node certificate is signed by the CA, binds its identity, and is a TLS server and client leaf", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(may2030)
      const ca = yield* RackPki.makeRackCa()
      const node = yield* RackPki.issueNodeCertificate(ca, "913-0000019:BRM42220016")
      const caCert = new X509Certificate(ca.certPem)
      const cert = new X509Certificate(node.certPem)
      assert.isTrue(cert.verify(caCert.publicKey))
      assert.isTrue(cert.checkIssued(caCert))
      assert.isFalse(cert.ca)
      assert.strictEqual(node.caPem, ca.certPem)
      assert.strictEqual(node.identity, "913-0000019:BRM42220016")
      assert.strictEqual(cert.subjectAltName, "URI:urn:trust-quorum:baseboard:913-0000019:BRM42220016")
      assert.deepStrictEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"])
      assert.strictEqual(cert.validToDate.getTime(), may2030 + 365 * day)
      assert.deepStrictEqual(RackPki.identityOf(cert), Result.succeed("913-0000019:BRM42220016"))
      assert.isTrue(
        cert.checkPrivateKey((yield* Effect.promise(() => import("node:crypto"))).createPrivateKey(node.keyPem))
      )
    })
  )

  it.effect("serials are random: 32 certificates from one CA have 32 serials", () =>
    Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const serials = new Set<string>()
      for (let i = 0; i < 32; i++) {
        serials.add(new X509Certificate((yield* RackPki.issueNodeCertificate(ca, `913:${i}`)).certPem).serialNumber)
      }
      assert.strictEqual(serials.size, 32)
    })
  )

  it.effect("a validity ending in 2050 or later is encoded as GeneralizedTime and still parses", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.UTC(2049, 5, 1))
      const ca = yield* RackPki.makeRackCa()
      const cert = new X509Certificate(ca.certPem)
      assert.strictEqual(cert.validFromDate.getUTCFullYear(), 2049)
      assert.strictEqual(cert.validToDate.getTime(), Date.UTC(2049, 5, 1) + 365 * day)
    })
  )

  it.effect("any part and serial survive the round trip through the certificate (property)", () =>
    Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const part = fc.string({ minLength: 1, maxLength: 20, unit: "grapheme" }).filter((s) => !s.includes(":"))
      const serial = fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" })
      const samples = fc.sample(
        fc.tuple(part, serial).filter(([p, s]) => Result.isSuccess(RackPki.parseIdentity(`${p}:${s}`))),
        { seed: 42, numRuns: 40 }
      )
      for (const [p, s] of samples) {
        const node = yield* RackPki.issueNodeCertificate(ca, `${p}:${s}`)
        assert.deepStrictEqual(RackPki.identityOf(new X509Certificate(node.certPem)), Result.succeed(`${p}:${s}`))
      }
    })
  )

  it.effect("malformed identities are refused with InvalidIdentity", () =>
    Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      for (const bad of ["", "913", ":1", "913:", "9\n13:1", "913:\uD800", `913:${"x".repeat(300)}`]) {
        const error = yield* Effect.flip(RackPki.issueNodeCertificate(ca, bad))
        assert.strictEqual(error.reason, "InvalidIdentity")
        assert.match(error.message, /part:serial/)
      }
    })
  )

  it.effect("identityOf refuses a certificate with no identity, two identities, or a malformed one", () =>
    Effect.gen(function* () {
      const ca = yield* RackPki.makeRackCa()
      const leaf = (uris: ReadonlyArray<string>) =>
        Effect.map(RackPki.issueLeafCertificate(ca, { subject: "x", uris }), (c) => new X509Certificate(c.certPem))
      const failure = (r: Result.Result<string, string>) => (Result.isFailure(r) ? r.failure : "accepted")
      assert.strictEqual(
        failure(RackPki.identityOf(new X509Certificate(ca.certPem))),
        "the certificate binds no node identity"
      )
      assert.strictEqual(
        failure(RackPki.identityOf(yield* leaf(["https://example.invalid/913:1"]))),
        "the certificate binds no node identity"
      )
      assert.strictEqual(
        failure(RackPki.identityOf(yield* leaf([RackPki.identityUri("913:1"), RackPki.identityUri("913:2")]))),
        "the certificate binds more than one node identity"
      )
      for (const tail of ["nocolon", ":1", "913:", "9%3A13:1", "913:%zz", "913:a%0Ab"]) {
        assert.match(
          failure(RackPki.identityOf(yield* leaf([`${RackPki.identityUriPrefix}${tail}`]))),
          /node identity/,
          tail
        )
      }
    })
  )

  it.live("writeRack writes a CA and per-node credentials that readNodeCredentials loads back", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("pki")
      const { ca, nodes } = yield* RackPki.writeRack(dir, ["913:1", "913:a/b"])
      assert.strictEqual(readFileSync(join(dir, "ca.pem"), "utf8"), ca.certPem)
      assert.strictEqual(statSync(join(dir, "ca.key")).mode & 0o777, 0o600)
      assert.strictEqual(statSync(join(dir, "913_a%2Fb.key")).mode & 0o777, 0o600)
      const loaded = yield* RackPki.readNodeCredentials(dir, "913:a/b")
      assert.deepStrictEqual(loaded, nodes[1])
      const missing = yield* Effect.flip(RackPki.readNodeCredentials(dir, "913:2"))
      assert.strictEqual(missing.reason, "Io")
    })
  )

  it.live("readNodeCredentials refuses a certificate file that binds another identity", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("pki")
      const { nodes } = yield* RackPki.writeRack(dir, ["913:1", "913:2"])
      writeFileSync(join(dir, "913_1.pem"), nodes[1]?.certPem ?? "")
      const error = yield* Effect.flip(RackPki.readNodeCredentials(dir, "913:1"))
      assert.strictEqual(error.reason, "InvalidIdentity")
      assert.match(error.message, /913_1\.pem does not bind 913:1/)
    })
  )
})
