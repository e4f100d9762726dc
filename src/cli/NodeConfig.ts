/**
 * The configuration file of `tq node run`: one JSON document describing one node — its identity, its
 * peer and API addresses, its TLS credentials, the control plane's authority public key, its ledger
 * copies and its peers' addresses, plus optional link timing, pre-authentication bounds, API limits and
 * TLS, and log level (chaos tests shorten the inactivity timeout and log everything). A config without
 * `tls` is refused unless it says `"insecure": true`: plain TCP is never reached by omission. Ledger
 * paths are checked when the node starts: at least one, each in an existing, writable directory.
 */
import { readFileSync } from "node:fs"
import { Effect, Schema } from "effect"

const Address = Schema.Struct({
  host: Schema.String,
  port: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))
})

export const NodeConfig = Schema.Struct({
  /** The node's BaseboardId as `part:serial`. */
  id: Schema.String,
  /** The peer (bootstrap network) address. */
  peer: Address,
  /** The address peers reach this node at, when not `peer` (a relay, NAT or port forward). */
  advertise: Schema.optionalKey(Address),
  /** The HTTP API (underlay) address, its limits and, optionally, its TLS credentials (PEM files). */
  api: Schema.Struct({
    ...Address.fields,
    /** The largest request body accepted, in bytes (default 1 MiB); larger ones are answered 413. */
    maxBodyBytes: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
    /** How long a proxied call may wait for its destination before a 504 (default 10,000). */
    proxyTimeoutMs: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
    /** Serve the API over HTTPS; with `ca`, only to clients presenting a certificate that CA signed. */
    tls: Schema.optionalKey(
      Schema.Struct({ cert: Schema.String, key: Schema.String, ca: Schema.optionalKey(Schema.String) })
    )
  }),
  /** Open the API only once the node has committed a configuration (a new sled, reached by proxy until then). */
  apiAfterCommit: Schema.optionalKey(Schema.Boolean),
  /** PEM files for mutual TLS. Required unless `insecure` is true. */
  tls: Schema.optionalKey(Schema.Struct({ cert: Schema.String, key: Schema.String, ca: Schema.String })),
  /** Run the peer network on plain TCP, where any process may claim any identity: tests on one host only. */
  insecure: Schema.optionalKey(Schema.Literal(true)),
  /** The control plane's authority public key (`authority.pub` from `tq certs init`), as a PEM file path. */
  authority: Schema.String,
  /** Ledger copies (two or more, on separate disks). */
  ledger: Schema.Array(Schema.String).check(Schema.isMinLength(1)),
  /** Peer addresses of the other nodes. */
  peers: Schema.Array(Address),
  /** Link timing: keep-alive ping interval and inactivity timeout, in milliseconds (defaults 1,000 and 10,000). */
  link: Schema.optionalKey(
    Schema.Struct({
      pingIntervalMs: Schema.Int.check(Schema.isGreaterThan(0)),
      inactivityTimeoutMs: Schema.Int.check(Schema.isGreaterThan(0))
    })
  ),
  /**
   * Pre-authentication bounds of the peer port: connections that may be in their TLS handshake or Hello
   * at once (default 64; more are closed at once) and the time each has to finish it (default 5,000 ms).
   */
  handshake: Schema.optionalKey(
    Schema.Struct({
      maxUnauthenticated: Schema.Int.check(Schema.isGreaterThan(0)),
      timeoutMs: Schema.Int.check(Schema.isGreaterThan(0))
    })
  ),
  /** The least severe level logged to stderr (default Info). */
  logLevel: Schema.optionalKey(Schema.Literals(["All", "Trace", "Debug", "Info", "Warn", "Error", "None"]))
})
export type NodeConfig = typeof NodeConfig.Type

/** A config file that cannot be read or does not decode. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  path: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `config ${this.path}: ${this.issue}`
  }
}

export const load = (path: string) =>
  Effect.try({ try: () => readFileSync(path, "utf8"), catch: (e) => new ConfigError({ path, issue: String(e) }) }).pipe(
    Effect.flatMap((text) =>
      Schema.decodeUnknownEffect(Schema.fromJsonString(NodeConfig))(text).pipe(
        Effect.mapError((e) => new ConfigError({ path, issue: e.message }))
      )
    ),
    Effect.filterOrFail(
      (config) => config.tls !== undefined || config.insecure === true,
      () =>
        new ConfigError({
          path,
          issue:
            'no "tls" section: the peer network would be plain TCP, where any process may claim any identity; add "tls" (see `tq certs init`), or "insecure": true for a test on one host'
        })
    )
  )
