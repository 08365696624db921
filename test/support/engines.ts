// The engines the agent tests run every binary on, and the one-worker Sandbox each describe block opens on one of them.
import { afterAll, beforeAll } from 'vitest';
import { Sandbox, type EngineName, type SandboxOptions } from '../../runtime/index.ts';

/** The same binaries must behave the same on V8 and on the TypeScript emulator. */
export const ENGINES: EngineName[] = ['wasm', 'emulator'];

/** Opens a one-worker Sandbox on `engine` before the block's tests and closes it after them; call the result to get it. */
export function sandboxPerBlock(engine: EngineName, options: Omit<SandboxOptions, 'workers' | 'engine'> = {}): () => Sandbox {
  let sandbox: Sandbox | undefined;
  beforeAll(() => {
    sandbox = new Sandbox({ ...options, workers: 1, engine });
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  return () => sandbox!;
}
