// `sandbox call`: an Extism plugin's function from the command line, with config, limits, exit codes 0/1/2.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { sharedDir } from '../support/paths.ts';

const plugin = (name: string) => join(sharedDir, 'anchors', 'extism', `${name}.wasm`);

describe('sandbox call', () => {
  it("calls count_vowels with --input and --config and prints the plugin's bytes", async () => {
    const r = await runCli([
      'call',
      plugin('code'),
      'count_vowels',
      '--input',
      'Hello',
      '--config',
      'vowels=aeiouyAEIOUY',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ count: 2, total: 2, vowels: 'aeiouyAEIOUY' });
    expect(r.stderr).toMatch(/status: ok \(engine wasm/);
  });

  it('reads the input from stdin and prints the RunResult with --json', async () => {
    const r = await runCli(['call', plugin('code'), 'count_vowels', '--json'], { stdin: 'aaa' });
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ status: 'ok', engine: 'wasm' });
    expect(JSON.parse(result.output)).toMatchObject({ count: 3 });
  });

  it('exits 1 when the plugin runs out of fuel, 2 for a missing function argument or a bad --config', async () => {
    const loop = await runCli(['call', plugin('loop-forever'), 'loop', '--fuel', '100000']);
    expect(loop.code).toBe(1);
    expect(loop.stderr).toContain('out-of-fuel');
    expect((await runCli(['call', plugin('code')])).code).toBe(2);
    expect((await runCli(['call', plugin('code'), 'count_vowels', '--config', 'novalue'])).code).toBe(2);
  });

  it('sandbox run on a plugin says to use sandbox call', async () => {
    const r = await runCli(['run', plugin('code')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sandbox call');
  });
});
