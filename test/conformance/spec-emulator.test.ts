// Conformance: the WebAssembly spec suite through the shared runner on the emulator; it must pass all V8 passes (non-SIMD).

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { emulator } from '../../runtime/engine/emulator/index.ts';
import { instrument } from '../../runtime/module/instrument.ts';
import { acceptsWasm3, isSimdFile, isWasm3Acceptance, listSpecFiles, runSpecFile, specJsonDir } from './spec-runner.ts';
import type { SpecFileResult, WasmNamespace } from './spec-runner.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = specJsonDir(repoRoot);

/**
 * Assertions V8 passes that the emulator is allowed to fail, with the reason. Empty: the emulator passes all of
 * them. (SIMD files are excluded as a whole: the emulator rejects SIMD modules with a CompileError by design.)
 */
const KNOWN_DIFFERENCES = new Map<string, string>();

function passedKeys(r: SpecFileResult): Set<string> {
  const keys = new Set<string>();
  const seen = new Map<string, number>();
  for (const o of r.outcomes) {
    const base = `${r.file}:${o.line}:${o.type}`;
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    if (o.outcome === 'passed') keys.add(`${base}#${n}`);
  }
  return keys;
}

describe.skipIf(dir === null)('spec tests on the emulator', () => {
  it('passes every non-SIMD assertion that V8 passes', { timeout: 300_000 }, () => {
    if (dir === null) return;
    const missing: string[] = [];
    let v8Passed = 0;
    let emuPassed = 0;
    const kinds = new Map<string, number>();
    for (const file of listSpecFiles(dir)) {
      if (isSimdFile(file)) continue;
      const v8 = runSpecFile(file, { wasm: WebAssembly as unknown as WasmNamespace });
      const emu = runSpecFile(file, { wasm: emulator as unknown as WasmNamespace, includeSimd: false });
      v8Passed += v8.passed;
      emuPassed += emu.passed;
      const emuKeys = passedKeys(emu);
      for (const key of passedKeys(v8)) {
        if (!emuKeys.has(key) && !KNOWN_DIFFERENCES.has(key)) {
          const f = emu.failures.find((o) => key.startsWith(`${emu.file}:${o.line}:${o.type}`));
          missing.push(`${key}: ${f?.message ?? 'not passed'}`);
        }
      }
      for (const o of emu.outcomes) if (o.outcome === 'passed') kinds.set(o.type, (kinds.get(o.type) ?? 0) + 1);
    }
    expect(missing.slice(0, 20)).toEqual([]);
    expect(v8Passed).toBeGreaterThan(20_000);
    expect(emuPassed).toBeGreaterThanOrEqual(v8Passed - KNOWN_DIFFERENCES.size);
    // Every kind of assertion was exercised, not just assert_return.
    for (const kind of [
      'assert_return',
      'assert_trap',
      'assert_invalid',
      'assert_malformed',
      'assert_unlinkable',
      'assert_uninstantiable',
      'assert_exhaustion',
    ]) {
      expect(kinds.get(kind) ?? 0, kind).toBeGreaterThan(0);
    }
    console.log(`spec suite (non-SIMD): V8 passed ${v8Passed}, emulator passed ${emuPassed}`);
  });

  it(
    'passes the same assertions as V8 on instrumented modules (fuel + depth), the form agents run in',
    { timeout: 300_000 },
    () => {
      if (dir === null) return;
      const transform = (b: Uint8Array): Uint8Array =>
        instrument(b, {
          initialFuel: 1n << 62n,
          initialDepth: 0x7fffffff,
          validate: (x) => emulator.validate(x),
        } as Parameters<typeof instrument>[1]);
      const missing: string[] = [];
      let v8Passed = 0;
      let emuPassed = 0;
      for (const file of listSpecFiles(dir)) {
        if (isSimdFile(file)) continue;
        const v8 = runSpecFile(file, { wasm: WebAssembly as unknown as WasmNamespace, transform });
        const emu = runSpecFile(file, { wasm: emulator as unknown as WasmNamespace, transform, includeSimd: false });
        v8Passed += v8.passed;
        emuPassed += emu.passed;
        const emuKeys = passedKeys(emu);
        for (const key of passedKeys(v8)) if (!emuKeys.has(key)) missing.push(key);
      }
      expect(missing.slice(0, 20)).toEqual([]);
      expect(v8Passed).toBeGreaterThan(20_000);
      console.log(`instrumented spec suite (non-SIMD): V8 passed ${v8Passed}, emulator passed ${emuPassed}`);
    },
  );

  it(
    'passes the same count under node --jitless, where the code is translated for the interpreter',
    { timeout: 300_000 },
    () => {
      if (dir === null) return;
      // What V8 passes, plus what a WebAssembly 3.0 V8 accepts by design and the emulator refuses (see acceptsWasm3).
      const wasm3 = acceptsWasm3(WebAssembly);
      let v8Passed = 0;
      for (const file of listSpecFiles(dir)) {
        if (isSimdFile(file)) continue;
        const r = runSpecFile(file, { wasm: WebAssembly as unknown as WasmNamespace });
        v8Passed += r.passed + (wasm3 ? r.outcomes.filter(isWasm3Acceptance).length : 0);
      }
      const script = `
      import { emulator } from './runtime/engine/emulator/index.ts';
      import { isSimdFile, listSpecFiles, runSpecFile } from './test/conformance/spec-runner.ts';
      let passed = 0, failed = 0;
      const failures = [];
      for (const file of listSpecFiles(${JSON.stringify(dir)})) {
        if (isSimdFile(file)) continue;
        const r = runSpecFile(file, { wasm: emulator, includeSimd: false });
        passed += r.passed; failed += r.failed;
        for (const f of r.failures.slice(0, 3)) failures.push(r.file + ':' + f.line + ' ' + f.message);
      }
      console.log(JSON.stringify({ webAssembly: typeof WebAssembly, passed, failed, failures: failures.slice(0, 10) }));
    `;
      const r = spawnSync(process.execPath, ['--jitless', '--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: repoRoot,
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      const last = r.stdout.trim().split('\n').pop() ?? '';
      expect(last, r.stderr.slice(0, 2000)).toMatch(/^\{/);
      const result = JSON.parse(last) as { webAssembly: string; passed: number; failed: number; failures: string[] };
      expect(result.webAssembly).toBe('undefined');
      expect(result.failures).toEqual([]);
      expect(result.passed).toBe(v8Passed);
      console.log(`spec suite under --jitless (non-SIMD): emulator passed ${result.passed}`);
    },
  );
});
