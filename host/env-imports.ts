// The `env` import module that AssemblyScript's runtime expects: abort, trace, seed.
import { randomBytes } from 'node:crypto';
import type { GuestMemory } from './guest-memory.ts';
import type { RunContext } from './run-context.ts';

/** Thrown through the guest by `env.abort`: the one import that does not return, because the guest asked to stop. */
export class GuestAbort extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestAbort';
  }
}

export function envImports(memory: GuestMemory, ctx: () => RunContext) {
  return {
    abort(msgPtr: number, filePtr: number, line: number, column: number): never {
      const msg = memory.assemblyScriptString(msgPtr) ?? 'abort';
      const file = memory.assemblyScriptString(filePtr);
      throw new GuestAbort(file === null ? msg : `${msg} at ${file}:${line >>> 0}:${column >>> 0}`);
    },

    trace(msgPtr: number, n: number, ...args: number[]): void {
      const c = ctx();
      const msg = memory.assemblyScriptString(msgPtr) ?? '';
      const values = args.slice(0, Math.max(0, Math.min(n | 0, 5)));
      const message = values.length > 0 ? `trace: ${msg} ${values.join(', ')}` : `trace: ${msg}`;
      if (!c.admitLog(Buffer.byteLength(message))) return;
      c.logs.push({ level: 'debug', message });
    },

    seed(): number {
      return randomBytes(6).readUIntBE(0, 6);
    },
  };
}
