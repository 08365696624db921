// Unit tests: translations the emulator's compiler once got wrong, each checked against V8 on the same bytes.

import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { emulator } from '../../runtime/engine/emulator/index.ts';

type Exports = Record<string, (...a: unknown[]) => unknown>;

async function both(wat: string): Promise<[Exports, Exports]> {
  const bytes = (await parse(wat)) as Uint8Array<ArrayBuffer>;
  const v8 = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports;
  const emu = new emulator.Instance(new emulator.Module(bytes), {}).exports as unknown as Exports;
  return [v8, emu];
}

describe('emulator compiler', () => {
  // Defect 6 (issue 12): setLocal retargeted the last slot assignment it found in the previous line, which was the
  // second move of a taken br_if (`if (c) { si0 = si2; si1 = si3; break }`): the local got the branch value on the
  // taken path and kept its old value on the other.
  it('keeps a local.set after br_if to a multi-value block out of the taken branch', async () => {
    const [v8, emu] = await both(`(module (memory 1)
      (data (i32.const 0) "\\05\\00\\00\\00\\06\\00\\00\\00")
      (func (export "f") (param i32) (result i32) (local i32)
        (local.set 1 (i32.const 9))
        (block (result i32 i32)
          (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 7) (i32.const 8)
          (br_if 0 (local.get 0))
          (drop) (drop) (local.set 1) (i32.const 3))
        (drop) (drop) (local.get 1)))`);
    for (const arg of [0, 1]) expect(emu.f?.(arg), `f(${arg})`).toBe(v8.f?.(arg));
    expect(emu.f?.(0)).toBe(6);
    expect(emu.f?.(1)).toBe(9);
  });

  it('still writes a load straight into its local when nothing intervenes', async () => {
    const [v8, emu] = await both(`(module (memory 1) (data (i32.const 0) "\\2a")
      (func (export "f") (param i32) (result i32) (local i32)
        (local.set 1 (i32.load8_u (local.get 0))) (local.get 1)))`);
    expect(emu.f?.(0)).toBe(42);
    expect(emu.f?.(0)).toBe(v8.f?.(0));
  });
});
