// Chooses the engine: V8's WebAssembly when it exists, the TypeScript emulator otherwise, and says why.
import { SandboxError } from '../errors.ts';
import type { EngineChoice, EngineName } from '../agent/types.ts';
import type { WasmNamespace } from './namespace.ts';

export interface EngineSelection {
  engine: EngineName;
  reason: string;
}

export function hasWebAssembly(): boolean {
  return typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'object';
}

export function selectEngine(choice: EngineChoice = 'auto'): EngineSelection {
  switch (choice) {
    case 'wasm':
      if (!hasWebAssembly()) {
        throw new SandboxError(
          'SANDBOX_ENGINE_UNAVAILABLE',
          "engine 'wasm' was asked for, but this process has no WebAssembly (is node running with --jitless?); use engine 'auto' or 'emulator'",
        );
      }
      return { engine: 'wasm', reason: 'asked for V8 WebAssembly' };
    case 'emulator':
      return { engine: 'emulator', reason: 'asked for the TypeScript emulator' };
    case 'auto':
      return hasWebAssembly()
        ? { engine: 'wasm', reason: 'WebAssembly is available' }
        : {
            engine: 'emulator',
            reason: 'WebAssembly is unavailable in this process (e.g. node --jitless); using the TypeScript emulator',
          };
    default:
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `unknown engine ${JSON.stringify(choice)}; use 'auto', 'wasm' or 'emulator'`,
      );
  }
}

/** Loads the namespace for an engine; the emulator is imported only when it is used. */
export async function loadEngine(engine: EngineName): Promise<WasmNamespace> {
  if (engine === 'wasm') return (globalThis as unknown as { WebAssembly: WasmNamespace }).WebAssembly;
  try {
    const { emulator } = await import('./emulator/index.ts');
    return emulator as unknown as WasmNamespace;
  } catch (error) {
    throw new SandboxError(
      'SANDBOX_ENGINE_UNAVAILABLE',
      `the TypeScript emulator could not be loaded: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
