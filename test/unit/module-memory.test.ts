// Memory cap: the instrumenter clamps a defined memory's maximum and refuses a minimum above the cap.

import { describe, expect, it } from 'vitest';
import { ModuleError, instrument, instrumentWithReport } from '../../runtime/module/instrument.ts';
import { load, wat } from './module-harness.ts';

describe('memory cap', () => {
  it('clamps a memory without a maximum', async () => {
    const { bytes, report } = instrumentWithReport(await wat(`(module (memory (export "memory") 2))`), {
      memoryMaxPages: 5,
    });
    expect(report.memory).toEqual({ minPages: 2, maxPagesBefore: null, maxPagesAfter: 5 });
    const mem = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports['memory'] as WebAssembly.Memory;
    expect(mem.grow(3)).toBe(2);
    expect(() => mem.grow(1)).toThrow(RangeError);
  });

  it('lowers a larger maximum and keeps a smaller one', async () => {
    expect(
      instrumentWithReport(await wat(`(module (memory 1 100))`), { memoryMaxPages: 10 }).report.memory?.maxPagesAfter,
    ).toBe(10);
    expect(
      instrumentWithReport(await wat(`(module (memory 1 3))`), { memoryMaxPages: 10 }).report.memory?.maxPagesAfter,
    ).toBe(3);
    expect(instrumentWithReport(await wat(`(module (memory 1 3))`)).report.memory?.maxPagesAfter).toBe(3);
  });

  it('refuses a minimum above the cap with MEMORY_LIMIT', async () => {
    const bytes = await wat(`(module (memory 300))`);
    try {
      instrument(bytes, { memoryMaxPages: 256 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ModuleError);
      expect((e as ModuleError).code).toBe('MEMORY_LIMIT');
    }
    expect(instrument(bytes, { memoryMaxPages: 300 }).length).toBeGreaterThan(0);
  });

  it('makes memory.grow past the cap fail inside the guest, with the flag', async () => {
    const m = load(
      await wat(`(module (memory 1) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`),
      { memoryMaxPages: 4 },
    );
    expect(m.run('grow', [3]).result).toBe(1);
    const r = m.run('grow', [1]);
    expect(r.result).toBe(-1);
    expect(r.flags).toBe(4);
  });
});
