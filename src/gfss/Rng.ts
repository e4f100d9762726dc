/**
 * The source of randomness for splitting secrets, drawing rack secrets and salts.
 *
 * An `Rng` fills a buffer. Production uses the operating system's CSPRNG; tests and the simulator
 * inject a seeded generator (`src/testing/SeededRng.ts`) so a run is reproducible byte for byte.
 */
import { randomFillSync } from "node:crypto"

/** Fills `target` with random bytes. */
export type Rng = (target: Uint8Array) => void

/** The operating system's CSPRNG. */
export const system: Rng = (target) => {
  randomFillSync(target)
}
