// Every hostile fixture through the instrumenter: refused with the right code, or rewritten into a valid module with the same interface.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModuleError, SANDBOX_EXPORTS, instrument, instrumentWithReport } from '../../runtime/module/instrument.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtures = path.join(repoRoot, 'fixtures', 'build');
const files = existsSync(fixtures)
  ? readdirSync(fixtures)
      .filter((f) => f.endsWith('.wasm'))
      .sort()
  : [];

/** Fixtures the instrumenter itself must refuse, and how (16 MiB cap, as in DEFAULT_LIMITS). */
const REFUSED: Record<string, { code: string; feature?: string }> = {
  'reach-appended-global.wasm': { code: 'INVALID' },
  'uses-atomics.wasm': { code: 'UNSUPPORTED_FEATURE', feature: 'threads' },
  'memory-min-too-large.wasm': { code: 'MEMORY_LIMIT' },
};

function names(list: Array<{ module?: string; name: string; kind: string }>): string[] {
  return list.map((d) => `${d.module ?? ''}/${d.name}/${d.kind}`).sort();
}

describe.skipIf(files.length === 0)(
  'fixtures through the instrumenter (fixtures/build; run npm run build:agents)',
  () => {
    for (const file of files) {
      it(file, () => {
        const bytes = new Uint8Array(readFileSync(path.join(fixtures, file)));
        const expected = REFUSED[file];
        let out: Uint8Array<ArrayBuffer>;
        try {
          out = instrument(bytes, { memoryMaxPages: 256 });
        } catch (e) {
          expect(e).toBeInstanceOf(ModuleError);
          const err = e as ModuleError;
          if (expected) {
            expect(err.code).toBe(expected.code);
            if (expected.feature) expect(err.feature).toBe(expected.feature);
          } else {
            // only bytes V8 itself refuses may be refused without being listed above
            expect(WebAssembly.validate(bytes)).toBe(false);
            expect(['MALFORMED', 'INVALID', 'UNSUPPORTED_FEATURE']).toContain(err.code);
          }
          return;
        }
        expect(expected).toBeUndefined();
        expect(WebAssembly.validate(out)).toBe(true);
        const before = new WebAssembly.Module(bytes);
        const after = new WebAssembly.Module(out);
        expect(names(WebAssembly.Module.imports(after))).toEqual(names(WebAssembly.Module.imports(before)));
        const added = [SANDBOX_EXPORTS.fuel, SANDBOX_EXPORTS.depth, SANDBOX_EXPORTS.flags];
        const afterExports = WebAssembly.Module.exports(after).filter((e) => e.name !== SANDBOX_EXPORTS.start);
        expect(names(afterExports)).toEqual(
          names([...WebAssembly.Module.exports(before), ...added.map((name) => ({ name, kind: 'global' }))]),
        );
      });
    }
  },
);

describe('a large real module', () => {
  const big = path.join(
    repoRoot,
    'node_modules',
    '@bytecodealliance',
    'jco-transpile',
    'vendor',
    'wasm-tools.core.wasm',
  );
  it.skipIf(!existsSync(big))('instruments the wasm-tools core module into a valid module', { timeout: 30_000 }, () => {
    const bytes = new Uint8Array(readFileSync(big));
    const { bytes: out, report } = instrumentWithReport(bytes);
    expect(WebAssembly.validate(out)).toBe(true);
    expect(report.functions).toBeGreaterThan(1000);
    expect(report.charges).toBeGreaterThan(report.functions);
    expect(report.loopChecks).toBeGreaterThan(100);
    expect(report.bytesOut).toBe(out.length);
    expect(report.features).toContain('bulk-memory');
    // deterministic output
    expect(Buffer.from(instrument(bytes)).equals(Buffer.from(out))).toBe(true);
  });
});
