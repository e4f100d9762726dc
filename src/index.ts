/**
 * effect-trust-quorum: public entry point. Each module is re-exported as a namespace.
 */
export {}
