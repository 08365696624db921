// The engines × isolations the agent tests run every binary on, and the one-worker Sandbox each describe block opens on one of them.
import { afterAll, beforeAll } from 'vitest';
import { Sandbox, type EngineName, type Isolation, type SandboxOptions } from '../../runtime/index.ts';

/** The same binaries must behave the same on V8 and on the TypeScript emulator. */
export const ENGINES: EngineName[] = ['wasm', 'emulator'];

/** ...and the same in a worker thread and inline on the calling thread. */
export const ISOLATIONS: Isolation[] = ['worker', 'inline'];

export interface Setup {
  engine: EngineName;
  isolation: Isolation;
}

/** Every engine in every isolation: `describe.each(MATRIX)('... ($engine, $isolation)', ({ engine, isolation }) => ...)`. */
export const MATRIX: Setup[] = ENGINES.flatMap((engine) => ISOLATIONS.map((isolation) => ({ engine, isolation })));

/** Opens a one-worker Sandbox on `engine` before the block's tests and closes it after them; call the result to get it. */
export function sandboxPerBlock(
  engine: EngineName,
  options: Omit<SandboxOptions, 'workers' | 'engine'> = {},
): () => Sandbox {
  let sandbox: Sandbox | undefined;
  beforeAll(() => {
    sandbox = new Sandbox({ ...options, workers: 1, engine });
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  return () => sandbox!;
}
