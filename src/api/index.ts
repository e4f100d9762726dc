/**
 * The node's HTTP API (`effect-trust-quorum/api`): its schema-first definition (for typed clients and
 * the OpenAPI document) and the server that serves it for a running node.
 */

export * as NodeApi from "./NodeApi.ts"
export * as NodeApiServer from "./NodeApiServer.ts"
