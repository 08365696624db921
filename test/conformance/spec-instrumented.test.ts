// Conformance: every spec-test module, instrumented with ample fuel, behaves exactly as the original on V8.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { instrument } from '../../runtime/module/instrument.ts';
import type { InstrumentOptions } from '../../runtime/module/instrument.ts';
import { acceptsWasm3, isSimdFile, isWasm3Acceptance, listSpecFiles, runSpecFile, specJsonDir } from './spec-runner.ts';
import type { SpecFileResult, WasmNamespace } from './spec-runner.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = specJsonDir(repoRoot);
const wasm = WebAssembly as unknown as WasmNamespace;

function outcomes(r: SpecFileResult): Map<string, { outcome: string; type: string; message?: string }> {
  const m = new Map<string, { outcome: string; type: string; message?: string }>();
  r.outcomes.forEach((o, i) => m.set(`${r.file}:${o.line}:${o.type}:${i}`, o));
  return m;
}

const CONFIGS: Array<[string, InstrumentOptions]> = [
  ['fuel + depth (default)', {}],
  ['fuel only', { stackDepth: false }],
  ['depth only', { fuel: false }],
  ['memory cap at the 4 GiB maximum', { memoryMaxPages: 65536 }],
];

describe.skipIf(dir === null)('spec tests: instrumented modules behave as the originals (V8)', () => {
  // the originals, once: what every instrumented run is compared with
  const originals = new Map<string, SpecFileResult>();
  const getOriginal = (file: string): SpecFileResult => {
    let r = originals.get(file);
    if (!r) {
      r = runSpecFile(file, { wasm });
      originals.set(file, r);
    }
    return r;
  };

  for (const [name, options] of CONFIGS) {
    it(`${name}: passes exactly the same assertions, SIMD included`, { timeout: 120_000 }, () => {
      if (dir === null) return; // skipped above: ../shared/wasm-spec is absent
      let transformed = 0;
      const transform = (b: Uint8Array): Uint8Array => {
        transformed++;
        // ample fuel and depth from the start, so even a function that escapes a failed instance runs
        return instrument(b, { ...options, initialFuel: 1n << 62n, initialDepth: 0x7fffffff });
      };
      const regressions: string[] = [];
      const gained: string[] = [];
      let origPassed = 0;
      let instPassed = 0;
      let nonSimdPassed = 0;
      // V8 with WebAssembly 3.0 accepts what these older tests call invalid; the instrumenter refuses it (see acceptsWasm3).
      const wasm3 = acceptsWasm3(WebAssembly);
      let wasm3Failed = 0; // V8 accepted (the test fails there)
      let wasm3Refused = 0; // ... and the instrumenter refused (the test passes there)
      const kinds = new Set<string>();
      for (const file of listSpecFiles(dir)) {
        const orig = getOriginal(file);
        const inst = runSpecFile(file, { wasm, transform });
        origPassed += orig.passed;
        instPassed += inst.passed;
        if (!isSimdFile(file)) nonSimdPassed += orig.passed;
        if (wasm3 && !isSimdFile(file)) wasm3Failed += orig.outcomes.filter(isWasm3Acceptance).length;
        const a = outcomes(orig);
        const b = outcomes(inst);
        for (const [k, o] of a) {
          const other = b.get(k);
          if (o.outcome === 'passed' && other?.outcome !== 'passed')
            regressions.push(`${k}: ${other?.message ?? 'missing'}`);
        }
        for (const [k, o] of b) {
          if (o.outcome === 'passed') kinds.add(o.type);
          const was = a.get(k);
          if (o.outcome !== 'passed' || was?.outcome === 'passed') continue;
          if (wasm3 && was !== undefined && isWasm3Acceptance(was)) wasm3Refused++;
          else gained.push(k);
        }
      }
      expect(regressions).toEqual([]);
      expect(gained).toEqual([]);
      expect(instPassed).toBe(origPassed + wasm3Refused);
      // the bar from ../shared/wasm-spec/README.md: V8 passes every non-SIMD assertion there (but WebAssembly 3.0's)
      expect(nonSimdPassed + wasm3Failed).toBeGreaterThanOrEqual(26_038);
      expect(transformed).toBeGreaterThan(3000);
      for (const k of [
        'assert_return',
        'assert_trap',
        'assert_exhaustion',
        'assert_invalid',
        'assert_malformed',
        'assert_unlinkable',
        'assert_uninstantiable',
        'action',
      ]) {
        expect(kinds).toContain(k);
      }
    });
  }
});
