// `sandbox instrument`: the written module runs in plain WebAssembly and meters itself.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { fixturePath, requireBuilt } from '../support/paths.ts';

describe('sandbox instrument', () => {
  it('writes a metered module that runs out of fuel in plain WebAssembly', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'sandbox-instr-')), 'out.wasm');
    const r = await runCli(['instrument', requireBuilt(fixturePath('loop-forever')), '-o', out, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.functions).toBeGreaterThan(0);
    const { instance } = await WebAssembly.instantiate(readFileSync(out), {
      sandbox: { output: () => 0, emit: () => 0, log: () => 0, now: () => 0n, random: () => 0 },
    });
    const exports = instance.exports as Record<string, any>;
    exports.__sandbox_fuel.value = 1000n;
    exports.__sandbox_depth.value = 100;
    expect(() => exports.sandbox_handle(0, 0)).toThrow(WebAssembly.RuntimeError);
    expect(exports.__sandbox_flags.value & 1).toBe(1);
  });

  it('exits 2 for a module it cannot meter', async () => {
    const r = await runCli(['instrument', fixturePath('garbage'), '-o', '/dev/null']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sandbox instrument:/);
  });
});
