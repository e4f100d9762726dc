/**
 * Shamir secret sharing over GF(256): `split` a secret into n shares of which any k recombine,
 * `combine` k shares back into the secret, and `computeShare` a new share at any x from k shares.
 *
 * Each secret byte gets its own polynomial of degree k−1 with uniformly random coefficients (a zero
 * leading coefficient is allowed: rejecting it leaks information about the secret). Shares take
 * x = 1..n. Secret bytes are multiplied four at a time inside an int32 (`mulWord`) by fixed rounds of
 * masked shift-and-add: no table, and no branch on secret data; only public x-coordinates steer loops.
 */
import { Result, Schema } from "effect"
import * as Gf256 from "./Gf256.ts"
import { type Rng, system } from "./Rng.ts"

/** A share: its x-coordinate (1..255) and one y byte per secret byte. */
export interface Share {
  readonly x: number
  readonly y: Uint8Array
}

/** A threshold below 2 (or not an integer) protects nothing. */
export class ThresholdTooSmall extends Schema.TaggedError<ThresholdTooSmall>()("ThresholdTooSmall", {
  threshold: Schema.Number
}) {
  override get message(): string {
    return `threshold ${this.threshold} is invalid; a secret needs an integer threshold of at least 2`
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
 * Field words: the secret's bytes packed four to an int32, so one masked step multiplies four field
 * elements at once (SWAR). Bytes never interact inside a word — every step shifts within a byte and
 * reduces by 0x1B per byte — so the byte order inside a word does not matter.
 */
const wordsFor = (length: number): number => (length + 3) >>> 2

/** Multiplies each of the four field elements in `word` by 2 (xtime), reducing by 0x1B where a high bit carries out. */
const xtime4 = (word: number): number => ((word & 0x7f7f7f7f) << 1) ^ Math.imul((word >> 7) & 0x01010101, 0x1b)

/**
 * Multiplies each of the four field elements in the secret `word` by the field element `c`: eight fixed
 * rounds of masked shift-and-add, so neither the word nor `c` steers a branch or indexes a table.
 */
const mulWord = (word: number, c: number): number => {
  let product = 0
  let t = word
  for (let i = 0; i < 8; i++) {
    product ^= t & -((c >>> i) & 1)
    t = xtime4(t)
  }
  return product
}

/**
 * Splits `secret` into `n` shares (x = 1..n), any `k` of which recombine to it.
 * All randomness for the split is drawn in one call to `rng` ((k−1)·length bytes), then zeroed.
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
  const words = wordsFor(len)
  // random[j * len + b] is the coefficient of x^(j+1) in byte b's polynomial. The layout is part of the
  // contract with seeded runs: the same rng bytes must give the same shares.
  const random = new Uint8Array((k - 1) * len)
  rng(random)
  // coefficients[j * words ..] holds the words of x^j's coefficients; j = 0 is the secret itself.
  const coefficients = new Int32Array(k * words)
  const coefficientBytes = new Uint8Array(coefficients.buffer)
  coefficientBytes.set(secret, 0)
  for (let j = 1; j < k; j++) coefficientBytes.set(random.subarray((j - 1) * len, j * len), j * words * 4)
  random.fill(0)
  const acc = new Int32Array(words)
  const accBytes = new Uint8Array(acc.buffer, 0, len)
  const top = (k - 1) * words
  const shares: Array<Share> = []
  for (let x = 1; x <= n; x++) {
    // Horner from the highest coefficient down: y = y·x + c.
    for (let w = 0; w < words; w++) acc[w] = coefficients[top + w]
    for (let j = k - 2; j >= 0; j--) {
      const base = j * words
      for (let w = 0; w < words; w++) acc[w] = mulWord(acc[w], x) ^ coefficients[base + w]
    }
    shares.push({ x, y: accBytes.slice() })
  }
  acc.fill(0)
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

/**
 * Lagrange interpolation of the shares at `x` (0 for the secret). Each share's basis value
 * L_i = Π_{j≠i} (x ⊕ x_j) / (x_i ⊕ x_j) depends only on the public x-coordinates, so it is computed once
 * per share; the share's y bytes are then multiplied by it four at a time, straight into the output.
 */
const interpolate = (shares: ReadonlyArray<Share>, x: number, len: number): Uint8Array => {
  const out = new Uint8Array(len)
  const whole = len & ~3
  for (const share of shares) {
    let num = 1
    let den = 1
    for (const other of shares) {
      if (other === share) continue
      num = Gf256.mul(num, x ^ other.x)
      den = Gf256.mul(den, share.x ^ other.x)
    }
    const basis = Gf256.div(num, den)
    const y = share.y
    let b = 0
    for (; b < whole; b += 4) {
      const product = mulWord(y[b] | (y[b + 1] << 8) | (y[b + 2] << 16) | (y[b + 3] << 24), basis)
      out[b] ^= product
      out[b + 1] ^= product >>> 8
      out[b + 2] ^= product >>> 16
      out[b + 3] ^= product >>> 24
    }
    for (; b < len; b++) out[b] ^= mulWord(y[b], basis)
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
