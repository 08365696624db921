// Determinism: the same module and input use the same fuel in every run and under every V8 tier.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { instrument } from '../../runtime/module/instrument.ts';
import { wat } from './module-harness.ts';

const WORKLOAD = `(module (memory 1)
  (func $mix (param $x i32) (result i32) (i32.xor (i32.mul (local.get $x) (i32.const 16777619)) (i32.const 2166136261)))
  (func $tree (param $d i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $d) (i32.const 2)) (then (local.get $d))
      (else (i32.add (call $tree (i32.sub (local.get $d) (i32.const 1))) (call $tree (i32.sub (local.get $d) (i32.const 2)))))))
  (func (export "work") (param $n i32) (result i32) (local $h i32) (local $i i32)
    (loop $l
      (local.set $h (call $mix (i32.add (local.get $h) (local.get $i))))
      (i32.store8 (i32.and (local.get $i) (i32.const 1023)) (local.get $h))
      (if (i32.and (local.get $h) (i32.const 1)) (then (memory.copy (i32.const 2048) (i32.const 0) (i32.and (local.get $h) (i32.const 1023)))))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (i32.add (local.get $h) (call $tree (i32.const 18)))))`;

// plain JavaScript, so the child needs no TypeScript loader; prints "<result> <fuelUsed> <flags>"
const CHILD = `
import { readFileSync } from 'node:fs';
const bytes = readFileSync(process.argv[1]);
const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
const line = [];
for (const limit of [10_000_000_000n, 100_000n]) {
  exports.__sandbox_fuel.value = limit;
  exports.__sandbox_depth.value = 10000;
  exports.__sandbox_flags.value = 0;
  let r;
  try { r = exports.work(Number(process.argv[2])); } catch (e) { r = 'trap'; }
  line.push(r, limit - exports.__sandbox_fuel.value, exports.__sandbox_flags.value);
}
console.log(line.join(' '));
`;

const dir = mkdtempSync(path.join(tmpdir(), 'fuel-determinism-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runChild(file: string, flags: string[]): string {
  const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', CHILD, file, '20000'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`child failed (${flags.join(' ')}): ${r.stderr}`);
  return r.stdout.trim();
}

describe('deterministic fuel', () => {
  it('is the same under --liftoff-only, --no-liftoff and the default tiering', { timeout: 60_000 }, async () => {
    const file = path.join(dir, 'work.wasm');
    writeFileSync(file, instrument(await wat(WORKLOAD)));
    const outputs = [[], ['--liftoff-only'], ['--no-liftoff'], ['--no-wasm-lazy-compilation', '--wasm-tier-up']].map(
      (f) => runChild(file, f),
    );
    expect(new Set(outputs).size).toBe(1);
    const [result, used, flags, trapped, usedShort, flagsShort] = outputs[0]!.split(' ');
    expect(result).not.toBe('trap');
    expect(Number(used)).toBeGreaterThan(100_000);
    expect(flags).toBe('0');
    // the short run ran out, at its limit, with the flag
    expect(trapped).toBe('trap');
    expect(Number(usedShort)).toBeGreaterThanOrEqual(100_000);
    expect(flagsShort).toBe('1');
  });
});
