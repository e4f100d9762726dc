/**
 * The control-plane driver (`effect-trust-quorum/control`): reconfigure, poll the prepare
 * acknowledgements and commit, at each member directly or through a member's proxy.
 */

export * as ControlPlaneStore from "./ControlPlaneStore.ts"
export * as MemberClient from "./MemberClient.ts"
export * as Reconfigurator from "./Reconfigurator.ts"
