// An Extism plugin's `extism:host/user` imports, bound to the host functions its agent was granted.
//
// Extism host functions see plugin data as addresses in the kernel memory. Here a host function is a bytes-in,
// bytes-out function on the host (runtime/capabilities/host-functions.ts), so a user import takes at most one
// i64 (the address of its input block, 0 for none) and returns at most one i64 (the address of the output
// block): the shape the Extism PDKs' `host_fn` produce for one argument and one result.
import { decodeModule, ExternKind, ValType } from '../../runtime/module/decode.ts';
import type { HostCallReply } from '../host-call.ts';
import { EXTISM_USER, type ExtismKernel } from './kernel.ts';
import { WASI_MODULE } from '../wasi/index.ts';

export interface UserImport {
  name: string;
  takesInput: boolean;
  returnsOutput: boolean;
}

/**
 * The plugin's `extism:host/user` imports and their shapes; an unsupported signature is named in the error, and so
 * is a WASI import when the load did not give the plugin WASI.
 */
export function userImportsOf(bytes: Uint8Array, wasi: boolean): UserImport[] {
  const info = decodeModule(bytes);
  const found: UserImport[] = [];
  for (const imp of info.imports) {
    if (imp.module === WASI_MODULE && !wasi) {
      throw new Error(
        `the plugin imports ${WASI_MODULE}.${imp.name}: load it with \`wasi: true\` (CLI: --wasi) to give it the sandbox's WASI preview 1`,
      );
    }
    if (imp.module !== EXTISM_USER || imp.kind !== ExternKind.func) continue;
    const type = info.types[imp.typeIndex!]!;
    const i64Only = (list: number[]) => list.length <= 1 && list.every((t) => t === ValType.i64);
    if (!i64Only(type.params) || !i64Only(type.results)) {
      throw new Error(
        `the plugin imports host function ${EXTISM_USER}.${imp.name} with ${type.params.length} parameter(s) and ${type.results.length} result(s); this host supports (i64?) -> i64? (an input block and an output block)`,
      );
    }
    found.push({ name: imp.name, takesInput: type.params.length === 1, returnsOutput: type.results.length === 1 });
  }
  return found;
}

/** Synchronously calls a granted host function with the input bytes. */
export type UserCall = (name: string, input: Uint8Array) => HostCallReply;

export function userFunctionImports(
  imports: UserImport[],
  kernel: ExtismKernel,
  call: UserCall,
  onError: (name: string, message: string) => void,
) {
  const out: Record<string, (addr?: bigint) => bigint | undefined> = {};
  for (const imp of imports) {
    out[imp.name] = (addr?: bigint) => {
      const input =
        imp.takesInput && addr !== undefined && addr !== 0n
          ? (kernel.read(Number(addr))?.slice() ?? new Uint8Array())
          : new Uint8Array();
      const reply = call(imp.name, input);
      if ('error' in reply) {
        onError(imp.name, reply.error);
        return imp.returnsOutput ? 0n : undefined;
      }
      if (!imp.returnsOutput) return undefined;
      return BigInt(kernel.store(reply.ok));
    };
  }
  return out;
}
