/**
 * The in-memory roles of a protocol node: the coordinator of a reconfiguration, the key-share computer
 * and the rack-secret loader. None of it is persisted — a restart starts with no coordinator, no
 * computer and nothing loaded — and the handlers that end a role go through `cancel…` so the shares it
 * held are zeroed.
 */
import type { Coordinator } from "./Coordinator.ts"
import type { KeyShareComputer } from "./KeyShareComputer.ts"
import { RackSecretLoader } from "./RackSecretLoader.ts"

/** The mutable roles one node plays. */
export class Roles {
  coordinator: Coordinator | undefined = undefined
  computer: KeyShareComputer | undefined = undefined
  readonly loader = new RackSecretLoader()

  /** Stops coordinating, zeroing the shares the coordinator held. */
  cancelCoordinator(): void {
    this.coordinator?.dispose()
    this.coordinator = undefined
  }

  /** Stops computing a key share, zeroing the shares the computer held. */
  cancelComputer(): void {
    this.computer?.dispose()
    this.computer = undefined
  }
}
