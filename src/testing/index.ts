/**
 * Test support (`effect-trust-quorum/testing`): the deterministic cluster simulator, its fast-check
 * action generators, seeded randomness and the replayable event log, for testing control planes, and the
 * seeded network-config gossip simulation.
 * The only entry point that needs `fast-check` (a peer dependency only for it).
 */

export * as SimulationAction from "./Action.ts"
export * as EventLog from "./EventLog.ts"
export * as NetworkConfigGossip from "./NetworkConfigGossip.ts"
export * as SimulationNexus from "./Nexus.ts"
export * as PgCluster from "./PgCluster.ts"
export * as SeededRng from "./SeededRng.ts"
export * as SimulatedRack from "./SimulatedRack.ts"
export * as Simulation from "./Simulation.ts"
export * as TestAuthority from "./TestAuthority.ts"
