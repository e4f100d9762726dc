/**
 * Placeholder main example; replaced by the rack-secret demo once `gfss` and `crypto` land.
 */
console.log("effect-trust-quorum")
