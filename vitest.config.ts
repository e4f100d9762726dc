import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Two test files at once on the 2-core CI machine (vitest's default is one fewer than the cores, so one):
    // most suites wait on child processes, sockets, fsync or PostgreSQL, and the suite takes ~190 s instead
    // of ~250–290 s.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
