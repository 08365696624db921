// Test runner configuration: four projects by cost (unit, conformance, agents, integration); `npm test` runs them all.
import { defineConfig } from 'vitest/config';

/** One tier: `npx vitest run --project <name>` runs only it. (test/unit/test-projects.test.ts checks every test file is in one.) */
export const tier = (name: string, include: string[]) => ({ extends: true as const, test: { name, include } });

export default defineConfig({
  test: {
    // Starts nats-server and Kafka once per run (on free ports, in temporary directories) for the queue tests.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Agent workers and real servers are heavy on a 2-core machine: a few files at a time.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      // No I/O, no workers: parsers, the instrumenter, the emulator, codecs.
      tier('unit', ['test/unit/**/*.test.ts']),
      // One case file against every implementation: engines, queues, WASI, the spec tests; the fuzz corpus
      // (generated modules on V8 and the emulator, damaged bytes through every decoder).
      tier('conformance', ['test/conformance/**/*.test.ts', 'test/fuzz/**/*.test.ts']),
      // The example agents, the CLI in-process, components: workers and files, no servers.
      tier('agents', ['test/agents/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/component/**/*.test.ts']),
      // Real servers (nats-server, Kafka, Redis, Prometheus), started once for the run.
      tier('integration', ['test/integration/**/*.test.ts']),
    ],
  },
});
