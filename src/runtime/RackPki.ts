/**
 * A throwaway rack PKI for tests, examples and `tq certs init`: a rack certificate authority and one
 * certificate per node binding its identity, as PEM strings ready for `Transport.tls` — and, written
 * beside them by `writeRack`, the control plane's authority key pair (`authority.key`, `authority.pub`).
 *
 * Certificates are X.509 v3 with ECDSA P-256 keys and ECDSA-SHA256 signatures, built with a small DER
 * encoder and `node:crypto` (no external tool, no network). A node certificate binds its identity — the
 * BaseboardId display form `part:serial` — as the subjectAltName URI
 * `urn:trust-quorum:baseboard:<part>:<serial>`, each half percent-encoded (RFC 3986) so any serial fits
 * a URI; the common name repeats the display form for humans but is never read. `identityOf` takes the
 * identity back from a peer certificate that TLS has verified against the rack CA.
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate
} from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Result, Schema } from "effect"
import { SigningKey } from "../crypto/AuthorityKey.ts"

/** The URI prefix that binds a node's identity into its certificate. */
export const identityUriPrefix = "urn:trust-quorum:baseboard:"

/** Certificates are valid for a year unless asked otherwise. */
export const defaultValidityDays = 365

/** A certificate and its private key (PKCS#8), as PEM. */
export interface Credentials {
  readonly certPem: string
  readonly keyPem: string
}

/** The rack CA: its credentials (the key signs node certificates) and its name. */
export interface RackCa extends Credentials {
  readonly name: string
}

/** What a node needs for mutual TLS: its certificate and key, and the rack CA certificate it trusts. */
export interface NodeCredentials extends Credentials {
  readonly caPem: string
  readonly identity: string
}

/** Creating, writing or reading rack credentials failed. */
export class PkiError extends Schema.TaggedError<PkiError>()("PkiError", {
  reason: Schema.Literals(["InvalidIdentity", "Crypto", "Io", "Exists"]),
  detail: Schema.String
}) {
  override get message(): string {
    const messages: Record<PkiError["reason"], string> = {
      InvalidIdentity: `not a node identity: ${this.detail}; use the BaseboardId display form "part:serial"`,
      Crypto: `could not create rack credentials: ${this.detail}`,
      Io: `could not read or write rack credentials: ${this.detail}; check the directory and its permissions`,
      Exists: `${this.detail} already exists; rack credentials are never overwritten: move it away or use another directory`
    }
    return messages[this.reason]
  }
}

// ---- identities -------------------------------------------------------------------------------------

/** Identities longer than this are refused: a BaseboardId is a part number and a serial, not a document. */
const maxIdentityLength = 256

/**
 * Checks the display form `part:serial`: the part is non-empty and has no ':' (the first ':' separates
 * the halves, as in `BaseboardId.fromString`), the serial is non-empty, and the whole is well-formed
 * Unicode without control characters.
 */
export const parseIdentity = (identity: string): Result.Result<string, string> => {
  const i = identity.indexOf(":")
  if (i <= 0 || i === identity.length - 1) return Result.fail(`"${identity}" is not "part:serial"`)
  if (identity.length > maxIdentityLength) return Result.fail(`longer than ${maxIdentityLength} characters`)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(identity)) return Result.fail("contains control characters")
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(identity)) {
    return Result.fail("is not well-formed Unicode")
  }
  return Result.succeed(identity)
}

/**
 * Percent-encodes everything but RFC 3986's unreserved characters (`encodeURIComponent` leaves
 * `!'()*` alone, and Node quotes a subjectAltName holding some of them, which would hide the identity).
 */
const encodeStrict = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** The subjectAltName URI that binds `identity` (already checked by `parseIdentity`). */
export const identityUri = (identity: string): string => {
  const i = identity.indexOf(":")
  return `${identityUriPrefix}${encodeStrict(identity.slice(0, i))}:${encodeStrict(identity.slice(i + 1))}`
}

/** What `encodeStrict` produces: anything else in an identity URI is a forgery or a bug. */
const percentEncoded = /^[A-Za-z0-9\-_.~%]+$/

const decodeHalf = (s: string): string | undefined => {
  if (!percentEncoded.test(s)) return undefined
  const decoded = Result.try(() => decodeURIComponent(s))
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

/**
 * The identity a certificate binds: exactly one subjectAltName URI under `identityUriPrefix`, whose two
 * halves decode to a valid `part:serial`. Call it only on a certificate TLS has verified.
 */
export const identityOf = (cert: X509Certificate): Result.Result<string, string> => {
  const uris = (cert.subjectAltName ?? "")
    .split(/,\s*/)
    .filter((entry) => entry.startsWith(`URI:${identityUriPrefix}`))
    .map((entry) => entry.slice(`URI:${identityUriPrefix}`.length))
  if (uris.length === 0) return Result.fail("the certificate binds no node identity")
  if (uris.length > 1) return Result.fail("the certificate binds more than one node identity")
  const [encoded = ""] = uris
  const i = encoded.indexOf(":")
  const part = i < 0 ? undefined : decodeHalf(encoded.slice(0, i))
  const serial = i < 0 ? undefined : decodeHalf(encoded.slice(i + 1))
  if (part === undefined || serial === undefined || part.includes(":")) {
    return Result.fail("the certificate's node identity is malformed")
  }
  return Result.mapError(parseIdentity(`${part}:${serial}`), (e) => `the certificate's node identity: ${e}`)
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
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Uint8Array.of(0), trimmed]) : trimmed)
}
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"))
const boolTrue = tlv(0x01, Uint8Array.of(0xff))
const octets = (b: Uint8Array) => tlv(0x04, b)
const bits = (b: Uint8Array, unused = 0) => tlv(0x03, Uint8Array.of(unused), b)
const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 + n, inner)
/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
const time = (d: Date): Uint8Array => {
  const p = (n: number) => String(n).padStart(2, "0")
  const year = d.getUTCFullYear()
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
  return year < 2050
    ? tlv(0x17, Buffer.from(`${p(year % 100)}${rest}`, "ascii"))
    : tlv(0x18, Buffer.from(`${String(year).padStart(4, "0")}${rest}`, "ascii"))
}

const ecdsaWithSha256 = seq(oid("1.2.840.10045.4.3.2"))
const distinguishedName = (cn: string) => seq(set(seq(oid("2.5.4.3"), utf8(cn))))
const extension = (id: string, critical: boolean, value: Uint8Array) =>
  seq(oid(id), ...(critical ? [boolTrue] : []), octets(value))

// keyUsage bits (first octet of the DER bit string): digitalSignature 0x80, keyCertSign 0x04, cRLSign 0x02.
const keyUsage = (mask: number) => bits(Uint8Array.of(mask), mask & 0x02 ? 1 : 7)
const basicConstraints = (ca: boolean) => (ca ? seq(boolTrue, integer(Uint8Array.of(0))) : seq())
const serverAndClientAuth = seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))
/** RFC 5280 §4.2.1.2 allows any unique method: the first 20 bytes of SHA-256 over the SubjectPublicKeyInfo. */
const keyId = (spki: Uint8Array) => createHash("sha256").update(spki).digest().subarray(0, 20)

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd()}\n-----END ${label}-----\n`

const spkiOf = (key: KeyObject) => key.export({ type: "spki", format: "der" })

const issue = (args: {
  readonly subject: string
  readonly issuer: string
  readonly publicKey: KeyObject
  readonly signer: KeyObject
  readonly issuerSpki: Uint8Array
  readonly now: Date
  readonly days: number
  readonly extensions: ReadonlyArray<Uint8Array>
}): string => {
  const spki = spkiOf(args.publicKey)
  const tbs = seq(
    explicit(0, integer(Uint8Array.of(2))),
    integer(randomBytes(16)),
    ecdsaWithSha256,
    distinguishedName(args.issuer),
    // A minute of slack so a peer whose clock is slightly behind accepts a certificate issued just now.
    seq(time(new Date(args.now.getTime() - 60_000)), time(new Date(args.now.getTime() + args.days * 86_400_000))),
    distinguishedName(args.subject),
    spki,
    explicit(
      3,
      seq(
        ...args.extensions,
        extension("2.5.29.14", false, octets(keyId(spki))),
        extension("2.5.29.35", false, seq(tlv(0x80, keyId(args.issuerSpki))))
      )
    )
  )
  return pem("CERTIFICATE", seq(tbs, ecdsaWithSha256, bits(sign("sha256", tbs, args.signer))))
}

/** Runs `f` with the clock's time and a fresh P-256 key pair; any exception becomes a `PkiError`. */
const withFreshKey = <A>(f: (now: Date, key: { publicKey: KeyObject; privateKey: KeyObject }) => A) =>
  Effect.flatMap(
    Effect.clockWith((clock) => clock.currentTimeMillis),
    (millis) =>
      Effect.try({
        try: () => f(new Date(millis), generateKeyPairSync("ec", { namedCurve: "P-256" })),
        catch: (e) => new PkiError({ reason: "Crypto", detail: String(e) })
      })
  )

const pkcs8 = (key: KeyObject) => String(key.export({ type: "pkcs8", format: "pem" }))

/** A new self-signed rack CA (basicConstraints CA, path length 0; keyCertSign and cRLSign), valid for `days`. */
export const makeRackCa = Effect.fn("RackPki.makeRackCa")(function* (
  name: string = "trust-quorum rack CA",
  days: number = defaultValidityDays
): Effect.fn.Return<RackCa, PkiError> {
  return yield* withFreshKey((now, { publicKey, privateKey }) => ({
    name,
    keyPem: pkcs8(privateKey),
    certPem: issue({
      subject: name,
      issuer: name,
      publicKey,
      signer: privateKey,
      issuerSpki: spkiOf(publicKey),
      now,
      days,
      extensions: [extension("2.5.29.19", true, basicConstraints(true)), extension("2.5.29.15", true, keyUsage(0x06))]
    })
  }))
})

/** A leaf certificate and key, and the rack CA certificate that signed it. */
export interface LeafCredentials extends Credentials {
  readonly caPem: string
}

/**
 * A leaf certificate signed by the rack CA: not a CA, digitalSignature only, extended key usage
 * serverAuth and clientAuth (each node both listens and dials), and `uris` as its subjectAltName URIs.
 * Node certificates come from `issueNodeCertificate`; this is for tooling and for tests of refusals
 * (a certificate from the right CA that binds no identity, or a malformed one).
 */
export const issueLeafCertificate = Effect.fn("RackPki.issueLeafCertificate")(function* (
  ca: RackCa,
  options: { readonly subject: string; readonly uris: ReadonlyArray<string>; readonly days?: number }
): Effect.fn.Return<LeafCredentials, PkiError> {
  const signer = yield* Effect.try({
    try: () => ({ key: createPrivateKey(ca.keyPem), spki: new X509Certificate(ca.certPem).publicKey }),
    catch: (e) => new PkiError({ reason: "Crypto", detail: `the rack CA's PEM does not parse: ${String(e)}` })
  })
  return yield* withFreshKey((now, { publicKey, privateKey }) => ({
    keyPem: pkcs8(privateKey),
    caPem: ca.certPem,
    certPem: issue({
      subject: options.subject,
      issuer: ca.name,
      publicKey,
      signer: signer.key,
      issuerSpki: spkiOf(signer.spki),
      now,
      days: options.days ?? defaultValidityDays,
      extensions: [
        extension("2.5.29.19", true, basicConstraints(false)),
        extension("2.5.29.15", true, keyUsage(0x80)),
        extension("2.5.29.37", false, serverAndClientAuth),
        ...(options.uris.length === 0
          ? []
          : [extension("2.5.29.17", false, seq(...options.uris.map((uri) => tlv(0x86, Buffer.from(uri, "ascii")))))])
      ]
    })
  }))
})

/**
 * A certificate for the node `identity` ("part:serial") signed by the rack CA: a leaf certificate
 * (`issueLeafCertificate`) whose only subjectAltName is the identity URI.
 */
export const issueNodeCertificate = Effect.fn("RackPki.issueNodeCertificate")(function* (
  ca: RackCa,
  identity: string,
  days: number = defaultValidityDays
): Effect.fn.Return<NodeCredentials, PkiError> {
  const checked = parseIdentity(identity)
  if (Result.isFailure(checked)) return yield* new PkiError({ reason: "InvalidIdentity", detail: checked.failure })
  const leaf = yield* issueLeafCertificate(ca, { subject: identity, uris: [identityUri(identity)], days })
  return { ...leaf, identity }
})

// ---- files ------------------------------------------------------------------------------------------

/** The file stem of a node's credentials: `part_serial`, percent-encoded so no identity can name a path. */
export const fileStem = (identity: string): string => {
  const i = identity.indexOf(":")
  return `${encodeStrict(identity.slice(0, i))}_${encodeStrict(identity.slice(i + 1))}`
}

const io = <A>(what: string, f: () => A) =>
  Effect.try({ try: f, catch: (e) => new PkiError({ reason: "Io", detail: `${what}: ${String(e)}` }) })

/**
 * Writes new credential files into `dir` (created if missing); keys (`.key`) with mode 0600. Refuses,
 * before writing anything, if any of them exists: a rack CA or node key is never silently replaced.
 */
const writeNew = Effect.fn("RackPki.writeNew")(function* (
  dir: string,
  files: ReadonlyArray<readonly [name: string, contents: string]>
): Effect.fn.Return<void, PkiError> {
  const existing = files.map(([name]) => join(dir, name)).find((path) => existsSync(path))
  if (existing !== undefined) return yield* new PkiError({ reason: "Exists", detail: existing })
  yield* io(`writing ${dir}`, () => {
    mkdirSync(dir, { recursive: true })
    for (const [name, contents] of files) {
      writeFileSync(join(dir, name), contents, { flag: "wx", ...(name.endsWith(".key") ? { mode: 0o600 } : {}) })
    }
  })
})

const nodeFiles = (nodes: ReadonlyArray<NodeCredentials>) =>
  nodes.flatMap((node) => [
    [`${fileStem(node.identity)}.pem`, node.certPem] as const,
    [`${fileStem(node.identity)}.key`, node.keyPem] as const
  ])

/**
 * Creates a rack CA and one credential set per identity and writes them into `dir` (created if
 * missing): `ca.pem`, `ca.key`, the authority key pair (`authority.pub`, `authority.key`) and
 * `<part>_<serial>.pem` / `.key` per node. Keys are written with mode 0600. The CA key is kept so more nodes can be issued later (`writeNodes`); a real rack would keep
 * it offline. Existing files are never overwritten (`PkiError` "Exists").
 */
export const writeRack = Effect.fn("RackPki.writeRack")(function* (
  dir: string,
  identities: ReadonlyArray<string>,
  name?: string
): Effect.fn.Return<
  { readonly ca: RackCa; readonly nodes: ReadonlyArray<NodeCredentials>; readonly authority: SigningKey },
  PkiError
> {
  const ca = yield* makeRackCa(name)
  const nodes = yield* Effect.forEach(identities, (id) => issueNodeCertificate(ca, id))
  // The control plane's authority key pair is made with the CA: authority.key stays with the control
  // plane, authority.pub is pinned in every node's config beside ca.pem.
  const authority = SigningKey.generate()
  yield* writeNew(dir, [
    ["ca.pem", ca.certPem],
    ["ca.key", ca.keyPem],
    ["authority.pub", authority.publicKey.toPem()],
    ["authority.key", authority.toPem()],
    ...nodeFiles(nodes)
  ])
  return { ca, nodes, authority }
})

/** Reads the rack CA `writeRack` wrote into `dir` (its certificate and key). */
export const readRackCa = Effect.fn("RackPki.readRackCa")(function* (dir: string): Effect.fn.Return<RackCa, PkiError> {
  const [certPem = "", keyPem = ""] = yield* io(`reading the rack CA in ${dir}`, () =>
    ["ca.pem", "ca.key"].map((file) => readFileSync(join(dir, file), "utf8"))
  )
  const subject = yield* io(`parsing ${join(dir, "ca.pem")}`, () => new X509Certificate(certPem).subject)
  const name = /^CN=(.*)$/m.exec(subject)?.[1]
  if (name === undefined) return yield* new PkiError({ reason: "Crypto", detail: `ca.pem has no common name` })
  return { name, certPem, keyPem }
})

/**
 * Issues credentials for more nodes with the rack CA already in `dir` (a new sled joining the rack) and
 * writes them next to it. Existing files are never overwritten.
 */
export const writeNodes = Effect.fn("RackPki.writeNodes")(function* (
  dir: string,
  identities: ReadonlyArray<string>
): Effect.fn.Return<ReadonlyArray<NodeCredentials>, PkiError> {
  const ca = yield* readRackCa(dir)
  const nodes = yield* Effect.forEach(identities, (id) => issueNodeCertificate(ca, id))
  yield* writeNew(dir, nodeFiles(nodes))
  return nodes
})

/** Reads the credentials `writeRack` wrote for `identity`, checking the certificate binds that identity. */
export const readNodeCredentials = Effect.fn("RackPki.readNodeCredentials")(function* (
  dir: string,
  identity: string
): Effect.fn.Return<NodeCredentials, PkiError> {
  const checked = parseIdentity(identity)
  if (Result.isFailure(checked)) return yield* new PkiError({ reason: "InvalidIdentity", detail: checked.failure })
  const stem = fileStem(identity)
  const [caPem, certPem, keyPem] = yield* io(`reading ${dir}`, () =>
    ["ca.pem", `${stem}.pem`, `${stem}.key`].map((file) => readFileSync(join(dir, file), "utf8"))
  )
  const bound = yield* io(`parsing ${stem}.pem`, () => identityOf(new X509Certificate(certPem ?? "")))
  if (Result.isFailure(bound) || bound.success !== identity) {
    return yield* new PkiError({
      reason: "InvalidIdentity",
      detail: `${stem}.pem does not bind ${identity}${Result.isFailure(bound) ? ` (${bound.failure})` : ""}`
    })
  }
  return { identity, caPem: caPem ?? "", certPem: certPem ?? "", keyPem: keyPem ?? "" }
})
