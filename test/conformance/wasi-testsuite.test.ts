// Conformance: the WASI preview 1 test suite (../shared/wasi-testsuite) through WasiHost, on V8 and on the emulator.

import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emulator } from '../../runtime/engine/emulator/index.ts';
import type { WasmNamespace } from '../../runtime/engine/namespace.ts';
import { WASI_MODULE, WasiHost, type MemoryLike } from '../../host/wasi/index.ts';
import { sharedDir } from '../support/paths.ts';

const suiteDir = path.join(sharedDir, 'wasi-testsuite');
const present = fs.existsSync(path.join(suiteDir, 'README.md'));
const LANGUAGES = ['assemblyscript', 'c', 'rust'] as const;

/** Tests we do not expect to pass, each with the reason. Keys are `language/name`. */
const SKIP = new Map<string, string>([]);

interface Spec {
  args?: string[];
  env?: Record<string, string>;
  root?: string;
  stdout?: string;
  stderr?: string;
  exit_code?: number;
}

interface Outcome {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  error?: string;
}

function listTests(lang: string): string[] {
  return fs
    .readdirSync(path.join(suiteDir, lang))
    .filter((f) => f.endsWith('.wasm'))
    .map((f) => f.slice(0, -5))
    .sort();
}

function readSpec(lang: string, name: string): Spec {
  const p = path.join(suiteDir, lang, `${name}.json`);
  return fs.existsSync(p) ? (JSON.parse(fs.readFileSync(p, 'utf8')) as Spec) : {};
}

/** The fixtures are read-only in the shared checkout and tests change them: a writable copy per run. */
function copyFixture(src: string): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wasi-suite-'));
  const dest = path.join(tmp, path.basename(src));
  fs.cpSync(src, dest, { recursive: true });
  const makeWritable = (p: string): void => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return;
    fs.chmodSync(p, st.mode | 0o200);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) makeWritable(path.join(p, e));
  };
  makeWritable(dest);
  return dest;
}

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) fs.rmSync(path.dirname(t), { recursive: true, force: true });
});

function runTest(ns: WasmNamespace, lang: string, name: string): Outcome {
  const spec = readSpec(lang, name);
  const dirs = [];
  if (spec.root !== undefined) {
    const copy = copyFixture(path.join(suiteDir, lang, spec.root));
    temps.push(copy);
    dirs.push({ host: copy, guest: '/', readOnly: false });
  }
  const wasi = new WasiHost({ args: [`${name}.wasm`, ...(spec.args ?? [])], env: spec.env ?? {}, dirs });
  const module = new ns.Module(fs.readFileSync(path.join(suiteDir, lang, `${name}.wasm`)));
  let memory: MemoryLike | null = null;
  const imports = { [WASI_MODULE]: wasi.imports(() => memory!) };
  const instance = new ns.Instance(module, imports as WebAssembly.Imports);
  memory = instance.exports['memory'] as MemoryLike;
  const dec = new TextDecoder();
  let exitCode: number | null = null;
  let error: string | undefined;
  try {
    exitCode = wasi.start(instance as { exports: Record<string, unknown> });
  } catch (e) {
    error = String(e);
  }
  return { exitCode, stdout: dec.decode(wasi.stdout), stderr: dec.decode(wasi.stderr), ...(error ? { error } : {}) };
}

function failureOf(lang: string, name: string, o: Outcome): string | null {
  const spec = readSpec(lang, name);
  const problems: string[] = [];
  if (o.error !== undefined) problems.push(`threw ${o.error}`);
  else if (o.exitCode !== (spec.exit_code ?? 0)) problems.push(`exit ${o.exitCode}, expected ${spec.exit_code ?? 0}`);
  if (spec.stdout !== undefined && o.stdout !== spec.stdout) problems.push(`stdout ${JSON.stringify(o.stdout)}`);
  if (spec.stderr !== undefined && o.stderr !== spec.stderr) problems.push(`stderr ${JSON.stringify(o.stderr)}`);
  if (problems.length === 0) return null;
  return `${lang}/${name}: ${problems.join('; ')}${o.stderr && spec.stderr === undefined ? ` [stderr: ${o.stderr.trim().slice(0, 300)}]` : ''}`;
}

function runAll(ns: WasmNamespace, filter: (lang: string, name: string) => boolean) {
  const failures: string[] = [];
  const counts: Record<string, { passed: number; total: number; skipped: number }> = {};
  for (const lang of LANGUAGES) {
    const c = (counts[lang] = { passed: 0, total: 0, skipped: 0 });
    for (const name of listTests(lang)) {
      if (!filter(lang, name)) continue;
      if (SKIP.has(`${lang}/${name}`)) {
        c.skipped++;
        continue;
      }
      c.total++;
      const f = failureOf(lang, name, runTest(ns, lang, name));
      if (f === null) c.passed++;
      else failures.push(f);
    }
  }
  return { failures, counts };
}

function report(engine: string, counts: Record<string, { passed: number; total: number; skipped: number }>): void {
  const parts = Object.entries(counts).map(
    ([l, c]) => `${l} ${c.passed}/${c.total}${c.skipped ? ` (+${c.skipped} skipped)` : ''}`,
  );
  console.log(`WASI test suite on ${engine}: ${parts.join(', ')}`);
}

describe.skipIf(!present)('WASI test suite', () => {
  it('passes every test on V8 except the skip list', { timeout: 300_000 }, () => {
    const { failures, counts } = runAll(WebAssembly as unknown as WasmNamespace, () => true);
    report('V8', counts);
    expect(failures).toEqual([]);
    expect(Object.values(counts).reduce((n, c) => n + c.passed, 0)).toBeGreaterThan(0);
  });

  it('passes the same tests on the emulator', { timeout: 600_000 }, () => {
    const { failures, counts } = runAll(emulator as unknown as WasmNamespace, () => true);
    report('emulator', counts);
    expect(failures).toEqual([]);
  });
});

if (!present) {
  describe('WASI test suite', () => {
    it.skip(`skipped: ${suiteDir} is absent (see ../shared/wasi-testsuite/README.md)`, () => {});
  });
}
