/**
 * Shamir secret sharing over GF(256): `split` a secret into n shares of which any k recombine,
 * `combine` k shares back into the secret, and `computeShare` a new share at any x from k shares.
 *
 * Each secret byte gets its own polynomial of degree k−1 with uniformly random coefficients (a zero
 * leading coefficient is allowed: rejecting it leaks information about the secret). Shares take
 * x = 1..n. Multiplications by secret bytes go through `mulByPublic`, a masked linear map with no
 * secret-indexed table and no secret-dependent branch; only public x-coordinates steer control flow.
 */
import { Result, Schema } from "effect"
import * as Gf256 from "./Gf256.ts"
import { type Rng, system } from "./Rng.ts"

/** A share: its x-coordinate (1..255) and one y byte per secret byte. */
export interface Share {
  readonly x: number
  readonly y: Uint8Array
}

/** A threshold below 2 protects nothing. */
export class ThresholdTooSmall extends Schema.TaggedError<ThresholdTooSmall>()("ThresholdTooSmall", {
  threshold: Schema.Number
}) {
  override get message(): string {
    return `threshold ${this.threshold} is below 2; a secret needs a threshold of at least 2`
  }
}

/** n must be at least k and at most 255 (one-byte x-coordinates). */
export class TooFewTotalShares extends Schema.TaggedError<TooFewTotalShares>()("TooFewTotalShares", {
  n: Schema.Number,
  k: Schema.Number
}) {
  override get message(): string {
    return `cannot split into ${this.n} shares with threshold ${this.k}: need k <= n <= 255`
  }
}

/** Interpolation needs at least two shares. */
export class TooFewShares extends Schema.TaggedError<TooFewShares>()("TooFewShares", { count: Schema.Number }) {
  override get message(): string {
    return `combining needs at least 2 shares, got ${this.count}`
  }
}

/** Two shares have the same x-coordinate. */
export class DuplicateXCoordinates extends Schema.TaggedError<DuplicateXCoordinates>()("DuplicateXCoordinates", {}) {
  override get message(): string {
    return "two shares have the same x-coordinate; pass shares from distinct members"
  }
}

/** Shares of different lengths cannot come from one split. */
export class InvalidShareLengths extends Schema.TaggedError<InvalidShareLengths>()("InvalidShareLengths", {}) {
  override get message(): string {
    return "the shares have different (or zero) lengths; they do not come from one split"
  }
}

/** An x-coordinate must be an integer in 1..255 (x = 0 is where the secret lives). */
export class InvalidShareId extends Schema.TaggedError<InvalidShareId>()("InvalidShareId", { x: Schema.Number }) {
  override get message(): string {
    return `x-coordinate ${this.x} is invalid: shares live at x = 1..255`
  }
}

export const SplitError = Schema.Union([ThresholdTooSmall, TooFewTotalShares])
export type SplitError = typeof SplitError.Type

export const CombineError = Schema.Union([TooFewShares, DuplicateXCoordinates, InvalidShareLengths, InvalidShareId])
export type CombineError = typeof CombineError.Type

const isValidX = (x: number): boolean => Number.isInteger(x) && x >= 1 && x <= 255

/**
 * The 8 public products c·2^i, so that c·y = XOR of those whose bit i is set in the secret y —
 * computed with masks, never with a branch or a table lookup on y.
 */
const basisOf = (c: number, out: Int32Array): void => {
  let v = c & 0xff
  for (let i = 0; i < 8; i++) {
    out[i] = v
    v = Gf256.mul(v, 2)
  }
}

/** out[b] ^= c·src[b] for every byte, with c's products precomputed in `basis`. */
const mulAddInto = (out: Uint8Array, src: Uint8Array, basis: Int32Array): void => {
  const t0 = basis[0] ?? 0
  const t1 = basis[1] ?? 0
  const t2 = basis[2] ?? 0
  const t3 = basis[3] ?? 0
  const t4 = basis[4] ?? 0
  const t5 = basis[5] ?? 0
  const t6 = basis[6] ?? 0
  const t7 = basis[7] ?? 0
  for (let b = 0; b < src.length; b++) {
    const y = src[b] ?? 0
    out[b] =
      (out[b] ?? 0) ^
      (t0 & -(y & 1)) ^
      (t1 & -((y >>> 1) & 1)) ^
      (t2 & -((y >>> 2) & 1)) ^
      (t3 & -((y >>> 3) & 1)) ^
      (t4 & -((y >>> 4) & 1)) ^
      (t5 & -((y >>> 5) & 1)) ^
      (t6 & -((y >>> 6) & 1)) ^
      (t7 & -((y >>> 7) & 1))
  }
}

/**
 * Splits `secret` into `n` shares (x = 1..n), any `k` of which recombine to it.
 * All randomness for the split is drawn in one call to `rng`, then zeroed.
 */
export const split = (
  secret: Uint8Array,
  n: number,
  k: number,
  rng: Rng = system
): Result.Result<ReadonlyArray<Share>, SplitError> => {
  if (!Number.isInteger(k) || k < 2) return Result.fail(new ThresholdTooSmall({ threshold: k }))
  if (!Number.isInteger(n) || n < k || n > 255) return Result.fail(new TooFewTotalShares({ n, k }))
  const len = secret.length
  // coefficients[j * len + b] is the coefficient of x^(j+1) in byte b's polynomial.
  const coefficients = new Uint8Array((k - 1) * len)
  rng(coefficients)
  const shares: Array<Share> = []
  const basis = new Int32Array(8)
  for (let x = 1; x <= n; x++) {
    // Horner from the highest coefficient down: y = y·x + c. x is public, so y·x is a masked linear map.
    const y = coefficients.slice((k - 2) * len, (k - 1) * len)
    basisOf(x, basis)
    const scratch = new Uint8Array(len)
    for (let j = k - 3; j >= -1; j--) {
      scratch.fill(0)
      mulAddInto(scratch, y, basis)
      const c = j >= 0 ? coefficients.subarray(j * len, (j + 1) * len) : secret
      for (let b = 0; b < len; b++) y[b] = (scratch[b] ?? 0) ^ (c[b] ?? 0)
    }
    scratch.fill(0)
    shares.push({ x, y })
  }
  coefficients.fill(0)
  return Result.succeed(shares)
}

const validate = (shares: ReadonlyArray<Share>): Result.Result<number, CombineError> => {
  if (shares.length < 2) return Result.fail(new TooFewShares({ count: shares.length }))
  const first = shares[0]
  const len = first === undefined ? 0 : first.y.length
  for (const s of shares) {
    if (!isValidX(s.x)) return Result.fail(new InvalidShareId({ x: s.x }))
  }
  let mismatch = len === 0 ? 1 : 0
  for (const s of shares) mismatch |= s.y.length ^ len
  if (mismatch !== 0) return Result.fail(new InvalidShareLengths({}))
  // Pairwise, without early exit, so the time does not depend on where a duplicate sits.
  let duplicate = 0
  for (let i = 0; i < shares.length; i++) {
    for (let j = i + 1; j < shares.length; j++) {
      duplicate |= Gf256.ctEq(shares[i]?.x ?? 0, shares[j]?.x ?? 0) ? 1 : 0
    }
  }
  if (duplicate !== 0) return Result.fail(new DuplicateXCoordinates({}))
  return Result.succeed(len)
}

/** Lagrange interpolation of the shares at `x` (0 for the secret). The x-coordinates are public. */
const interpolate = (shares: ReadonlyArray<Share>, x: number, len: number): Uint8Array => {
  const out = new Uint8Array(len)
  const basis = new Int32Array(8)
  for (let i = 0; i < shares.length; i++) {
    const xi = shares[i]?.x ?? 0
    let num = 1
    let den = 1
    for (let j = 0; j < shares.length; j++) {
      if (j === i) continue
      const xj = shares[j]?.x ?? 0
      num = Gf256.mul(num, x ^ xj)
      den = Gf256.mul(den, xi ^ xj)
    }
    basisOf(Gf256.div(num, den), basis)
    const yi = shares[i]?.y
    if (yi !== undefined) mulAddInto(out, yi, basis)
  }
  return out
}

/** Recombines the secret (interpolation at x = 0). Fewer than k valid shares give a wrong value, not an error. */
export const combine = (shares: ReadonlyArray<Share>): Result.Result<Uint8Array, CombineError> =>
  Result.map(validate(shares), (len) => interpolate(shares, 0, len))

/** Computes the share at `x` (1..255) from k shares: how a member that missed its prepare rebuilds its share. */
export const computeShare = (shares: ReadonlyArray<Share>, x: number): Result.Result<Share, CombineError> => {
  if (!isValidX(x)) return Result.fail(new InvalidShareId({ x }))
  return Result.map(validate(shares), (len) => ({ x, y: interpolate(shares, x, len) }))
}

/** A share with its own copy of the bytes, so zeroing one never zeroes the other. */
export const copyShare = (share: Share): Share => ({ x: share.x, y: Uint8Array.from(share.y) })

/** Zeroes a share's bytes once it is no longer needed. */
export const zeroShare = (share: Share): void => {
  share.y.fill(0)
}
