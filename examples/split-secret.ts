/**
 * The main example for now: draw a rack secret, split it among five sleds with threshold 3, recombine
 * it from three shares, and rebuild a lost share from three others — printing fingerprints, never bytes.
 * (The sled-bootstrap example, a whole rack of processes, replaces it once the runtime lands.) Run with
 * the project's Node (24, installed by `npm install`): `npx node examples/split-secret.ts`.
 */
import { Result } from "effect"
import { RackSecret } from "../src/crypto/RackSecret.ts"
import { shareDigest } from "../src/crypto/ShareDigest.ts"
import * as Gfss from "../src/gfss/Gfss.ts"

const orFail = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(String(r.failure))
  return r.success
}
const short = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex").slice(0, 12)

const secret = RackSecret.generate()
console.log(`rack secret drawn            fingerprint ${secret.fingerprint()}  (printed as ${secret})`)
const shares = orFail(secret.split(5, 3))
for (const share of shares) console.log(`  share for sled ${share.x}          digest ${short(shareDigest(share))}…`)

const pick = (xs: ReadonlyArray<number>) => shares.filter((s) => xs.includes(s.x))
const fromThree = orFail(RackSecret.reconstruct(pick([1, 3, 5])))
console.log(`recombined from sleds 1,3,5   fingerprint ${fromThree.fingerprint()}  equal: ${fromThree.equals(secret)}`)

const fromTwo = RackSecret.reconstruct(pick([2, 4]))
const twoMatches = Result.isSuccess(fromTwo) && fromTwo.success.equals(secret)
console.log(`recombined from sleds 2,4     equal: ${twoMatches}  (below the threshold, the result is noise)`)

const rebuilt = orFail(Gfss.computeShare(pick([1, 3, 4]), 2))
const original = shares.find((s) => s.x === 2)
const same = original !== undefined && short(shareDigest(original)) === short(shareDigest(rebuilt))
console.log(`sled 2's share rebuilt from 1,3,4: digest ${short(shareDigest(rebuilt))}…  matches: ${same}`)

for (const s of [...shares, rebuilt]) Gfss.zeroShare(s)
secret.dispose()
fromThree.dispose()
