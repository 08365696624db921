// Vitest global setup: starts nats-server and Kafka once per run for the queue tests; in CI a missing server fails the run.
import type { TestProject } from 'vitest/node';
import { startService, stop, type ServiceInfo, type ServiceKind, type ServiceSlot, skipReason } from './services.ts';

export interface QueueServices {
  nats: ServiceSlot;
  kafka: ServiceSlot;
}

declare module 'vitest' {
  export interface ProvidedContext {
    queueServices: QueueServices;
  }
}

/** Whether this run includes tests that use the servers: a run filtered to other files skips the startup. */
function wanted(): boolean {
  if (process.env.SANDBOX_SERVICES === 'off') return false;
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-') && a !== 'run' && a !== 'watch');
  return filters.length === 0 || filters.some((f) => /queue|integration|conformance|services/.test(f));
}

async function startServices(): Promise<{ slots: QueueServices; stop: () => Promise<void> }> {
  const started: ServiceInfo[] = [];
  const slots: Record<ServiceKind, ServiceSlot> = {
    nats: { missing: 'not started: this run has no queue tests' },
    kafka: { missing: 'not started: this run has no queue tests' },
  };
  if (wanted()) {
    const ci = process.env.CI === 'true';
    if (ci) {
      // Fail before starting anything, so a missing server does not leave the other one half-started.
      for (const kind of ['nats', 'kafka'] as const) {
        skipReason(kind);
      }
    }
    await Promise.all(
      (['nats', 'kafka'] as const).map(async (kind) => {
        const missing = skipReason(kind);
        if (missing !== undefined) {
          slots[kind] = { missing };
          return;
        }
        const info = await startService(kind);
        started.push(info);
        slots[kind] = { info };
      }),
    ).catch(async (error: unknown) => {
      await Promise.all(started.map((info) => stop(info)));
      throw error;
    });
  }
  return { slots, stop: async () => void (await Promise.all(started.map((info) => stop(info)))) };
}

/**
 * Vitest runs a global setup once per project (unit, conformance, agents, integration) in one process: the
 * servers start on the first call and stop after the last teardown. The share lives on globalThis because each
 * project may load this file as its own module instance.
 */
interface Shared {
  services: Promise<{ slots: QueueServices; stop: () => Promise<void> }>;
  users: number;
}
const SHARED = Symbol.for('wasm-agent-sandbox.test.queueServices');

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const holder = globalThis as { [SHARED]?: Shared };
  const shared = (holder[SHARED] ??= { services: startServices(), users: 0 });
  shared.users++;
  const { slots, stop: stopAll } = await shared.services;
  project.provide('queueServices', slots);
  return async () => {
    if (--shared.users > 0) return;
    delete holder[SHARED];
    await stopAll();
  };
}
