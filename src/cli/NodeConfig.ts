/**
 * The configuration file of `tq node run`: one JSON document describing one node — its identity, its
 * peer and API addresses, its TLS credentials, the control plane's authority public key, its ledger
 * copies (and those of its network config) and its peers' addresses, plus optional link timing, pre-authentication bounds, admission
 * limits, API limits and
 * TLS, log level (chaos tests shorten the inactivity timeout and log everything) and an OTLP collector for
 * traces. A config without `tls` is refused unless it says `"insecure": true`: plain TCP is never reached
 * by omission. Ledger paths are checked when the node starts: at least one, each in an existing,
 * writable directory.
 *
 * The Schema is the one definition: it decodes the file (an unknown key is an error, so a misspelt
 * option is never silently ignored) and generates the JSON Schema `tq node config-schema` prints.
 */
import { readFileSync } from "node:fs"
import { Effect, JsonSchema, type Result, Schema, SchemaTransformation } from "effect"

const Address = Schema.Struct({
  host: Schema.String,
  port: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))
})

const levels = ["All", "Trace", "Debug", "Info", "Warn", "Error", "None"] as const
/** A log level name in any case (`info`, `Info`, `INFO`), decoded to Effect's spelling. */
export const LogLevelName = Schema.String.annotate({
  description: `the least severe level logged to stderr: one of ${levels.join(", ")}, in any case (default Info; the --log-level flag wins)`
}).pipe(
  Schema.decodeTo(Schema.String, SchemaTransformation.toLowerCase()),
  Schema.decodeTo(Schema.String, SchemaTransformation.capitalize()),
  Schema.decodeTo(Schema.Literals(levels), SchemaTransformation.passthroughSupertype())
)

export const NodeConfig = Schema.Struct({
  id: Schema.String.annotate({ description: "the node's BaseboardId as part:serial" }),
  peer: Address.annotate({ description: "the peer (bootstrap network) address to listen on" }),
  advertise: Schema.optionalKey(
    Address.annotate({
      description: "the address peers reach this node at, when not peer (a relay, NAT or port forward)"
    })
  ),
  api: Schema.Struct({
    ...Address.fields,
    maxBodyBytes: Schema.optionalKey(
      Schema.Int.check(Schema.isGreaterThan(0)).annotate({
        description: "the largest request body accepted, in bytes (default 1 MiB); larger ones are answered 413"
      })
    ),
    proxyTimeoutMs: Schema.optionalKey(
      Schema.Int.check(Schema.isGreaterThan(0)).annotate({
        description: "how long a proxied call may wait for its destination before a 504 (default 10000)"
      })
    ),
    tls: Schema.optionalKey(
      Schema.Struct({ cert: Schema.String, key: Schema.String, ca: Schema.optionalKey(Schema.String) }).annotate({
        description: "serve the API over HTTPS; with ca, only to clients presenting a certificate that CA signed"
      })
    )
  }).annotate({ description: "the HTTP API (underlay) address (port 0 picks a free port), its limits and TLS" }),
  apiAfterCommit: Schema.optionalKey(
    Schema.Boolean.annotate({
      description:
        "open the API only once the node has committed a configuration (a new sled, reached by proxy until then)"
    })
  ),
  tls: Schema.optionalKey(
    Schema.Struct({ cert: Schema.String, key: Schema.String, ca: Schema.String }).annotate({
      description: "PEM files for mutual TLS (tq certs init / tq certs issue); required unless insecure is true"
    })
  ),
  insecure: Schema.optionalKey(
    Schema.Literal(true).annotate({
      description: "run the peer network on plain TCP, where any process may claim any identity: tests on one host only"
    })
  ),
  authority: Schema.String.annotate({
    description: "the control plane's authority public key (authority.pub from tq certs init), as a PEM file path"
  }),
  ledger: Schema.Array(Schema.String)
    .check(Schema.isMinLength(1))
    .annotate({ description: "ledger copies (two or more, on separate disks)" }),
  networkConfigLedger: Schema.optionalKey(
    Schema.Array(Schema.String).check(Schema.isMinLength(1)).annotate({
      description:
        "network-config ledger copies (default: beside each ledger copy, its name with .json replaced by .network-config.json)"
    })
  ),
  peers: Schema.Array(Address).annotate({ description: "peer addresses of the other nodes" }),
  link: Schema.optionalKey(
    Schema.Struct({
      pingIntervalMs: Schema.Int.check(Schema.isGreaterThan(0)),
      inactivityTimeoutMs: Schema.Int.check(Schema.isGreaterThan(0))
    }).annotate({
      description:
        "link timing: keep-alive ping interval and inactivity timeout in milliseconds (defaults 1000 and 10000)"
    })
  ),
  handshake: Schema.optionalKey(
    Schema.Struct({
      maxUnauthenticated: Schema.Int.check(Schema.isGreaterThan(0)),
      timeoutMs: Schema.Int.check(Schema.isGreaterThan(0))
    }).annotate({
      description:
        "pre-authentication bounds of the peer port: connections that may be in their TLS handshake or Hello at once (default 64; more are closed at once) and the time each has to finish it (default 5000 ms)"
    })
  ),
  limits: Schema.optionalKey(
    // Upper bounds keep what a config can make a node hold finite: the API serves at most 256 connections (so
    // more waiting calls than 1,024 cannot occur), and a proxied request in flight holds about 1 KB (64 MiB at
    // 65,536), as does each proxy frame a link may queue.
    Schema.Struct({
      maxPendingApi: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1024 }))),
      maxInFlightProxied: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65_536 })))
    }).annotate({
      description:
        "admission bounds: API calls waiting for the node's task (1–1024, default 32) and proxied requests in flight (1–65536, default 256, also the proxy frames a link may queue); beyond either, calls fail at once with Busy (HTTP 429)"
    })
  ),
  logLevel: Schema.optionalKey(LogLevelName),
  otlp: Schema.optionalKey(
    Schema.Struct({ url: Schema.String, serviceName: Schema.optionalKey(Schema.String) }).annotate({
      description:
        "export traces over OTLP/HTTP (JSON) to this collector base URL (e.g. http://127.0.0.1:4318); serviceName defaults to tq-node"
    })
  )
}).annotate({ title: "effect-trust-quorum node configuration" })
export type NodeConfig = typeof NodeConfig.Type

/** Where a node keeps its network config: the configured copies, else one beside each ledger copy. */
export const networkConfigLedgerPaths = (config: NodeConfig): ReadonlyArray<string> =>
  config.networkConfigLedger ?? config.ledger.map((p) => `${p.replace(/\.json$/, "")}.network-config.json`)

/** A config file that cannot be read or does not decode. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  path: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `config ${this.path}: ${this.issue}`
  }
}

/** The text of a file the config names (`what` says which, in the error). */
export const readFile = (path: string, what: string) =>
  Effect.try({
    try: () => readFileSync(path, "utf8"),
    catch: (e) => new ConfigError({ path, issue: `cannot read ${what}: ${e instanceof Error ? e.message : String(e)}` })
  })

/** Reads and decodes a config file; an unknown key is an error. */
export const load = (path: string) =>
  readFile(path, "the file").pipe(
    Effect.flatMap((text) =>
      Schema.decodeUnknownEffect(Schema.fromJsonString(NodeConfig))(text, { onExcessProperty: "error" }).pipe(
        // One line: the Schema issue puts its path on a second line.
        Effect.mapError((e) => new ConfigError({ path, issue: e.message.replace(/\n\s*/g, " ") }))
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

/** A PEM key file (`what` names it in errors) parsed with `parse`; missing or invalid, a `ConfigError`. */
export const readKey = <K>(
  path: string,
  what: string,
  parse: (pem: string) => Result.Result<K, { readonly message: string }>
) =>
  readFile(path, what).pipe(
    Effect.flatMap((pem) =>
      Effect.mapError(
        Effect.fromResult(parse(pem)),
        (e) => new ConfigError({ path, issue: `${what} is not a valid key: ${e.message}` })
      )
    )
  )

/** The PEM contents of a config's TLS files (the certificate, its key and the rack CA). */
export const readTls = (tls: NonNullable<NodeConfig["tls"]>) =>
  Effect.all({
    certPem: readFile(tls.cert, "tls.cert"),
    keyPem: readFile(tls.key, "tls.key"),
    caPem: readFile(tls.ca, "tls.ca")
  })

/** The JSON Schema (draft 2020-12) of the config file, generated from `NodeConfig`. */
export const jsonSchema = (): JsonSchema.JsonSchema => {
  const { schema, definitions } = Schema.toJsonSchemaDocument(NodeConfig, { onExcessProperty: "error" })
  return {
    $schema: JsonSchema.META_SCHEMA_URI_DRAFT_2020_12,
    ...schema,
    ...(Object.keys(definitions).length === 0 ? {} : { $defs: definitions })
  }
}
