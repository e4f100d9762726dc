/**
 * Alarms: protocol invariant violations that "should be impossible". They are kept in memory, reported
 * in node status, never persisted, and never carry share or secret bytes.
 */
import { Schema } from "effect"
import { DecryptionError } from "../crypto/PriorSecrets.ts"
import { RackSecretReconstructError } from "../crypto/RackSecret.ts"
import { CombineError } from "../gfss/Gfss.ts"
import { Configuration } from "./Configuration.ts"
import { Epoch } from "./Epoch.ts"

/** Two different configurations were seen for one epoch. `from` is the sender's id or "Nexus". */
export class MismatchedConfigurations extends Schema.TaggedClass<MismatchedConfigurations>()(
  "MismatchedConfigurations",
  { config1: Configuration, config2: Configuration, from: Schema.String }
) {}

/** The key-share computer had K validated shares but interpolation failed. */
export class ShareComputationFailed extends Schema.TaggedClass<ShareComputationFailed>()("ShareComputationFailed", {
  epoch: Epoch,
  error: CombineError
}) {}

/** The loader is collecting shares for an epoch newer than the latest committed one. */
export class CommittedConfigurationLost extends Schema.TaggedClass<CommittedConfigurationLost>()(
  "CommittedConfigurationLost",
  { latestCommittedEpoch: Epoch, collectingEpoch: Epoch }
) {}

/** Validated shares reconstructed a secret that could not decrypt the prior secrets. */
export class RackSecretDecryptionFailed extends Schema.TaggedClass<RackSecretDecryptionFailed>()(
  "RackSecretDecryptionFailed",
  { epoch: Epoch, error: DecryptionError }
) {}

/** Validated shares failed to combine into a 32-byte secret. */
export class RackSecretReconstructionFailed extends Schema.TaggedClass<RackSecretReconstructionFailed>()(
  "RackSecretReconstructionFailed",
  { epoch: Epoch, error: RackSecretReconstructError }
) {}

export const Alarm = Schema.Union([
  MismatchedConfigurations,
  ShareComputationFailed,
  CommittedConfigurationLost,
  RackSecretDecryptionFailed,
  RackSecretReconstructionFailed
])
export type Alarm = typeof Alarm.Type
