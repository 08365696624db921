// Tells what kind of binary a file is before running it: an agent (guest ABI), a WASI command, a component, or an Extism plugin.
import { decodeModule } from './decode.ts';

export type ModuleShape = 'agent' | 'wasi-command' | 'component' | 'extism-plugin';

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

export function moduleShape(bytes: Uint8Array): ModuleShape {
  const magic = WASM_MAGIC.every((b, i) => bytes[i] === b);
  // Components share the magic but carry version 0x0d and layer 1 where core modules carry version 1, layer 0.
  if (magic && bytes[4] === 0x0d && bytes[6] === 0x01 && bytes[7] === 0x00) return 'component';
  try {
    const info = decodeModule(bytes);
    if (info.imports.some((i) => i.module.startsWith('extism:host/'))) return 'extism-plugin';
    const wasi = info.imports.some((i) => i.module === 'wasi_snapshot_preview1');
    const start = info.exports.some((e) => e.name === '_start');
    return wasi && start ? 'wasi-command' : 'agent';
  } catch {
    return 'agent'; // not decodable: loading it as an agent reports exactly what is wrong
  }
}
