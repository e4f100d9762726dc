/**
 * What the authority rules cost: the control plane's signatures and the nodes' checks, per operation
 * and per reconfiguration of N members, against the baseline of one Shamir split of the same rack (work
 * every reconfiguration already does), measured in the same run with the variants interleaved.
 *
 * Per reconfiguration of N members the rules add: one reconfiguration signature and one commit
 * signature (control plane), the coordinator's check of the reconfiguration, N−1 checks of the signed
 * reconfiguration in the members' `Prepare`s, and N checks of the commit proof — each over a canonical
 * encoding, the commit's over a SHA3-256 digest of the whole configuration.
 */
import { Option, Result } from "effect"
import { RackSecret } from "../src/crypto/RackSecret.ts"
import * as TestAuthority from "../src/testing/TestAuthority.ts"
import * as BaseboardId from "../src/types/BaseboardId.ts"
import { Configuration, EncryptedRackSecrets, newConfiguration } from "../src/types/Configuration.ts"
import * as Decision from "../src/types/Decision.ts"

const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const sizes = [4, 8, 16, 32] as const
const rounds = 7
const iterations = 200

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
const round = (x: number) => Math.round(x * 10) / 10

/** Microseconds per call of `f`, over `iterations` calls. */
const time = (f: () => unknown): number => {
  const t = performance.now()
  for (let i = 0; i < iterations; i++) f()
  return ((performance.now() - t) * 1000) / iterations
}

export const run = async () => {
  const key = TestAuthority.fromLabel("bench authority")
  const rows = sizes.map((n) => {
    const members = Array.from({ length: n }, (_, i) => BaseboardId.make("913-0000019", String(i)))
    const decided = {
      rackId,
      epoch: 2,
      lastCommittedEpoch: 1,
      members,
      threshold: Math.floor(n / 2) + 1,
      coordinator: members[0] ?? BaseboardId.make("913-0000019", "0")
    }
    const signature = Decision.signReconfiguration(key, decided)
    const made = Result.getOrThrow(
      newConfiguration({ ...decided, authorization: { lastCommittedEpoch: 1, signature } })
    )
    // A configuration the size a real one is: with an encrypted chain of prior secrets.
    const config = new Configuration({
      ...made.configuration,
      encryptedRackSecrets: Option.some(
        new EncryptedRackSecrets({ salt: new Uint8Array(32), data: new Uint8Array(8 + 40 * 8 + 16) })
      )
    })
    const proof = Decision.signCommit(key, config)
    const samples = {
      split: [] as number[],
      sign: [] as number[],
      verifyReconfiguration: [] as number[],
      verifyCommit: [] as number[],
      digest: [] as number[]
    }
    for (let r = 0; r < rounds; r++) {
      samples.split.push(
        time(() => {
          const secret = RackSecret.generate()
          secret.split(n, decided.threshold)
          secret.dispose()
        })
      )
      samples.sign.push(time(() => Decision.signCommit(key, config)))
      samples.verifyReconfiguration.push(time(() => Decision.verifyReconfiguration(key.publicKey, config)))
      samples.verifyCommit.push(time(() => Decision.verifyCommit(key.publicKey, config, proof)))
      samples.digest.push(time(() => Decision.configurationDigest(config)))
    }
    const us = {
      split: round(median(samples.split)),
      sign_commit: round(median(samples.sign)),
      verify_reconfiguration: round(median(samples.verifyReconfiguration)),
      verify_commit: round(median(samples.verifyCommit)),
      configuration_digest: round(median(samples.digest))
    }
    // Two signatures, N checks of the reconfiguration (coordinator + N−1 Prepares), N checks of the commit.
    const perReconfigurationUs = 2 * us.sign_commit + n * us.verify_reconfiguration + n * us.verify_commit
    return {
      n,
      us,
      authority_cpu_per_reconfiguration_ms: round(perReconfigurationUs / 1000),
      ratio_to_one_split: round(perReconfigurationUs / us.split)
    }
  })
  return { rounds, iterations, rows }
}
