// The host thread's side of `Sandbox.runComponent`: encode the input, transpile (cached), and build the worker request.
import { hostOutcome, InvalidModule } from '../agent/outcome.ts';
import { preparationKey } from '../agent/prepare.ts';
import type { EngineName, Limits, RunResult } from '../agent/types.ts';
import { encode } from '../codec.ts';
import type { ComponentRequest } from '../worker/protocol.ts';
import { transpileComponent } from './transpile.ts';

/** The request for a worker, or the RunResult that ends the run before any guest code would run. */
export async function componentRequest(
  bytes: Uint8Array,
  hash: string,
  input: unknown,
  limits: Limits,
  engine: EngineName,
): Promise<Omit<ComponentRequest, 't' | 'seq'> | RunResult> {
  let encoded: Uint8Array;
  try {
    encoded = encode(input);
  } catch (error) {
    return hostOutcome(
      'invalid-input',
      engine,
      `the input cannot be encoded as MessagePack: ${(error as Error).message}`,
    );
  }
  if (encoded.length > limits.inputBytes) {
    return hostOutcome(
      'invalid-input',
      engine,
      `input of ${encoded.length} bytes exceeds the input limit of ${limits.inputBytes} bytes`,
    );
  }
  try {
    const transpiled = await transpileComponent(bytes, hash);
    return {
      key: preparationKey(hash, limits, false),
      js: transpiled.js,
      modules: transpiled.modules,
      exports: transpiled.exports,
      input: encoded,
      limits,
      engine,
    };
  } catch (error) {
    if (error instanceof InvalidModule) return hostOutcome('invalid-module', engine, error.message);
    throw error;
  }
}
