// Test runner configuration: unit, conformance, agent and CLI tests run in `npm test`; integration tests start real servers.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts nats-server and Kafka once per run (on free ports, in temporary directories) for the queue tests.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Agent workers and real servers are heavy on a 2-core machine: a few files at a time.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
