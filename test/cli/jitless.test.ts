// Under `node --jitless` WebAssembly does not exist: the CLI and the library pick the emulator by themselves.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentPath, fixturePath, repoRoot, requireBuilt } from '../support/paths.ts';

const bin = join(repoRoot, 'bin', 'sandbox.js');
const built = existsSync(join(repoRoot, 'dist', 'runtime', 'cli', 'main.js'));

function jitless(args: string[], input?: string) {
  return spawnSync(process.execPath, ['--jitless', ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    input,
    timeout: 60_000,
  });
}

describe.skipIf(!built)('node --jitless (needs dist/: npm run build)', () => {
  it('sandbox run picks the emulator and gives the same output and fuel as V8', () => {
    const args = ['run', requireBuilt(agentPath('vowels')), '--input', '{"text":"hello"}', '--json'];
    const emu = jitless([bin, ...args]);
    expect(emu.status, emu.stderr).toBe(0);
    const v8 = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: 'utf8' });
    const [a, b] = [JSON.parse(emu.stdout), JSON.parse(v8.stdout)];
    expect(a.engine).toBe('emulator');
    expect(b.engine).toBe('wasm');
    expect(a.output).toEqual(b.output);
    expect(a.fuelUsed).toBe(b.fuelUsed);
  });

  it('limits hold on the emulator: out-of-fuel and timeout', () => {
    const fuel = jitless([bin, 'run', fixturePath('loop-forever'), '--fuel', '100000', '--json']);
    expect(fuel.status).toBe(1);
    expect(JSON.parse(fuel.stdout)).toMatchObject({ status: 'out-of-fuel', fuelUsed: 100000, engine: 'emulator' });
    const started = Date.now();
    const timeout = jitless([bin, 'run', fixturePath('loop-forever'), '--fuel', '0', '--timeout', '100', '--json']);
    expect(JSON.parse(timeout.stdout)).toMatchObject({ status: 'timeout', engine: 'emulator' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('every subpath of the package imports (Node 22 crashed on node:http at import under --jitless)', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      exports: Record<string, { import: string } | string>;
    };
    const files = Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [] : [join(repoRoot, e.import)]));
    const r = jitless([
      '--input-type=module',
      '-e',
      `for (const f of ${JSON.stringify(files)}) await import(f); console.log('imported', ${files.length});`,
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`imported ${files.length}`);
  });

  it("the library's 'auto' engine picks the emulator, and 'wasm' says why it cannot run", () => {
    const script = `
      const { Sandbox } = await import(${JSON.stringify(join(repoRoot, 'dist', 'runtime', 'index.js'))});
      const sandbox = new Sandbox({ workers: 1 });
      const result = await sandbox.run(${JSON.stringify(agentPath('echo'))}, { a: 1 });
      let code = null;
      try { new Sandbox({ engine: 'wasm' }); } catch (e) { code = e.code; }
      await sandbox.close();
      console.log(JSON.stringify({ engine: result.engine, output: result.output, code }));`;
    const r = jitless(['--input-type=module', '-e', script]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ engine: 'emulator', output: { a: 1 }, code: 'SANDBOX_ENGINE_UNAVAILABLE' });
  });
});
