// Run outcomes both sides of the worker boundary name: the host thread imports this, never the guest-side code.
import type { EngineName, RunResult, RunStatus } from './types.ts';

/**
 * A RunResult built in the worker; the worker fills in `durationMs`. The output stays as the guest's MessagePack
 * bytes (`rawOutput`, already checked) and is decoded on the host thread together with the rest of its batch.
 */
export type GuestOutcome = RunResult & { rawOutput?: Uint8Array };

/** An outcome that did not come from running guest code (bad module, host trouble). */
export function hostOutcome(status: RunStatus, engine: EngineName, message?: string): RunResult {
  const result: RunResult = {
    status,
    output: null,
    events: [],
    logs: [],
    logsDropped: 0,
    fuelUsed: null,
    memoryPeakBytes: 0,
    durationMs: 0,
    engine,
  };
  if (message !== undefined) result.message = message;
  return result;
}

/** A module that cannot become an agent: the reason is always status 'invalid-module' with a message. */
export class InvalidModule extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidModule';
  }
}

/** The outcome of an exception thrown while making or running an instance: InvalidModule is the module's fault. */
export function thrownOutcome(error: unknown, engine: EngineName): RunResult {
  return hostOutcome(error instanceof InvalidModule ? 'invalid-module' : 'crashed', engine, (error as Error).message);
}
