/**
 * A throwaway rack PKI for tests, examples and `tq certs init`: a rack certificate authority and one
 * certificate per node binding its BaseboardId, ready for `Transport.tls`.
 *
 * Certificates are X.509 v3 with ECDSA P-256 keys, built here with a small DER encoder and signed with
 * `node:crypto` — no external tool, no network. A node certificate carries its identity as the
 * subjectAltName URI `urn:trust-quorum:baseboard:<part>:<serial>` (and the display form as its common
 * name); `identityOf` reads it back from a verified peer certificate.
 */
import {
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  type X509Certificate
} from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Schema } from "effect"

/** The URI prefix that binds a node's BaseboardId into its certificate. */
export const identityUriPrefix = "urn:trust-quorum:baseboard:"

/** A certificate and its private key, as PEM. */
export interface Credentials {
  readonly certPem: string
  readonly keyPem: string
}

/** The rack CA: its credentials (the key signs node certificates). */
export interface RackCa extends Credentials {
  readonly name: string
}

/** What a node needs for mutual TLS. */
export interface NodeCredentials extends Credentials {
  readonly caPem: string
  readonly identity: string
}

// ---- a minimal DER encoder -------------------------------------------------------------------------

const length = (n: number): Uint8Array => {
  if (n < 0x80) return Uint8Array.of(n)
  const bytes: Array<number> = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}
const tlv = (tag: number, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const body = Buffer.concat(parts)
  return Buffer.concat([Uint8Array.of(tag), length(body.length), body])
}
const seq = (...parts: ReadonlyArray<Uint8Array>) => tlv(0x30, ...parts)
const set = (...parts: ReadonlyArray<Uint8Array>) => tlv(0x31, ...parts)
const oid = (dotted: string): Uint8Array => {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number)
  const out = [40 * a + b]
  for (const v of rest) {
    const chunk: Array<number> = [v & 0x7f]
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift(0x80 | (x & 0x7f))
    out.push(...chunk)
  }
  return tlv(0x06, Uint8Array.from(out))
}
/** A non-negative DER INTEGER: minimal length (no leading zero octets unless the sign bit needs one). */
const integer = (bytes: Uint8Array): Uint8Array => {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const trimmed = bytes.subarray(start)
  const b = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Uint8Array.of(0), trimmed]) : trimmed
  return tlv(0x02, b)
}
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"))
const boolTrue = tlv(0x01, Uint8Array.of(0xff))
const octets = (b: Uint8Array) => tlv(0x04, b)
const bits = (b: Uint8Array, unused = 0) => tlv(0x03, Uint8Array.of(unused), b)
const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 + n, inner)
const utcTime = (d: Date): Uint8Array => {
  const p = (n: number) => String(n).padStart(2, "0")
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
  return tlv(0x17, Buffer.from(s, "ascii"))
}

const ecdsaWithSha256 = seq(oid("1.2.840.10045.4.3.2"))
const name = (cn: string) => seq(set(seq(oid("2.5.4.3"), utf8(cn))))
const extension = (id: string, critical: boolean, value: Uint8Array) =>
  seq(oid(id), ...(critical ? [boolTrue] : []), octets(value))

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd()}\n-----END ${label}-----\n`

const issue = (args: {
  readonly subject: string
  readonly issuer: string
  readonly publicKey: KeyObject
  readonly signer: KeyObject
  readonly now: Date
  readonly days: number
  readonly extensions: ReadonlyArray<Uint8Array>
}): string => {
  const serial = randomBytes(16)
  const notAfter = new Date(args.now.getTime() + args.days * 86_400_000)
  const tbs = seq(
    explicit(0, integer(Uint8Array.of(2))),
    integer(serial),
    ecdsaWithSha256,
    name(args.issuer),
    seq(utcTime(new Date(args.now.getTime() - 60_000)), utcTime(notAfter)),
    name(args.subject),
    args.publicKey.export({ type: "spki", format: "der" }),
    explicit(3, seq(...args.extensions))
  )
  const signature = sign("sha256", tbs, args.signer)
  return pem("CERTIFICATE", seq(tbs, ecdsaWithSha256, bits(signature)))
}

// keyUsage bits (DER bit string, first octet): digitalSignature = 0x80, keyCertSign = 0x04, cRLSign = 0x02.
const keyUsage = (mask: number) => bits(Uint8Array.of(mask), mask & 0x02 ? 1 : 7)

/** Creating credentials failed. */
export class PkiError extends Schema.TaggedError<PkiError>()("PkiError", { detail: Schema.String }) {
  override get message(): string {
    return `could not create rack credentials: ${this.detail}`
  }
}

/** Runs `f` with the clock's time and a fresh P-256 key pair, mapping any failure to `PkiError`. */
const withFreshKey = <A>(f: (now: Date, key: { publicKey: KeyObject; privateKey: KeyObject }) => A) =>
  Effect.gen(function* () {
    const now = new Date(yield* Effect.clockWith((c) => c.currentTimeMillis))
    return yield* Effect.try({
      try: () => f(now, generateKeyPairSync("ec", { namedCurve: "P-256" })),
      catch: (e) => new PkiError({ detail: String(e) })
    })
  })

const pkcs8 = (key: KeyObject) => String(key.export({ type: "pkcs8", format: "pem" }))

/** A new rack CA, valid for `days` (default 365). */
export const makeRackCa = (name = "trust-quorum rack CA", days = 365): Effect.Effect<RackCa, PkiError> =>
  withFreshKey((now, { publicKey, privateKey }) => ({
    name,
    keyPem: pkcs8(privateKey),
    certPem: issue({
      subject: name,
      issuer: name,
      publicKey,
      signer: privateKey,
      now,
      days,
      extensions: [extension("2.5.29.19", true, seq(boolTrue)), extension("2.5.29.15", true, keyUsage(0x06))]
    })
  }))

/** A certificate for the node `identity` ("part:serial"), signed by the rack CA. */
export const issueNodeCertificate = (
  ca: RackCa,
  identity: string,
  days = 365
): Effect.Effect<NodeCredentials, PkiError> =>
  withFreshKey((now, { publicKey, privateKey }) => ({
    identity,
    keyPem: pkcs8(privateKey),
    caPem: ca.certPem,
    certPem: issue({
      subject: identity,
      issuer: ca.name,
      publicKey,
      signer: createPrivateKey(ca.keyPem),
      now,
      days,
      extensions: [
        extension("2.5.29.19", true, seq()),
        extension("2.5.29.15", true, keyUsage(0x80)),
        extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))),
        extension("2.5.29.17", false, seq(tlv(0x86, Buffer.from(identityUriPrefix + identity, "utf8"))))
      ]
    })
  }))

/** The node identity a (verified) certificate binds, from its subjectAltName URI. */
export const identityOf = (cert: X509Certificate): string | undefined => {
  const san = cert.subjectAltName ?? ""
  for (const entry of san.split(/,\s*/)) {
    const uri = entry.startsWith("URI:") ? entry.slice(4) : undefined
    if (uri?.startsWith(identityUriPrefix)) {
      const identity = uri.slice(identityUriPrefix.length)
      return identity.includes(":") ? identity : undefined
    }
  }
  return undefined
}

/** Writes a CA and one credential set per identity into `dir` (`ca.pem`, `<identity>.pem`, `<identity>.key`). */
export const writeRack = (dir: string, identities: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const ca = yield* makeRackCa()
    const nodes = yield* Effect.forEach(identities, (id) => issueNodeCertificate(ca, id))
    yield* Effect.try({
      try: () => {
        mkdirSync(dir, { recursive: true })
        writeFileSync(join(dir, "ca.pem"), ca.certPem)
        writeFileSync(join(dir, "ca.key"), ca.keyPem, { mode: 0o600 })
        for (const n of nodes) {
          const file = n.identity.replaceAll(":", "_")
          writeFileSync(join(dir, `${file}.pem`), n.certPem)
          writeFileSync(join(dir, `${file}.key`), n.keyPem, { mode: 0o600 })
        }
      },
      catch: (e) => new PkiError({ detail: `writing ${dir}: ${String(e)}` })
    })
    return { ca, nodes }
  })
