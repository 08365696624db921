// `sandbox run` on WASI commands: stdin/stdout pass through, args after --, --env, --dir grants, the program's exit code.
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { agentPath, requireBuilt, sharedDir } from '../support/paths.ts';

const suite = join(sharedDir, 'wasi-testsuite');
const test = (lang: string, name: string) => join(suite, lang, `${name}.wasm`);

describe('sandbox run, WASI commands', () => {
  it('echo world | sandbox run hello-wasi.wasm', async () => {
    const r = await runCli(['run', requireBuilt(agentPath('hello-wasi'))], { stdin: 'world\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hello, world!');
  });

  it('reports the whole result with --json', async () => {
    const r = await runCli(['run', agentPath('hello-wasi'), '--json'], { stdin: 'Ada' });
    expect(JSON.parse(r.stdout)).toMatchObject({
      status: 'ok',
      exitCode: 0,
      stdout: 'hello, Ada!',
      stderr: '',
      engine: 'wasm',
    });
  });

  it('refuses agent-only and command-only flags on the wrong kind of module', async () => {
    const r = await runCli(['run', agentPath('echo'), '--dir', '.']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/for WASI commands/);
  });

  describe.skipIf(!existsSync(suite))('with programs from the WASI test suite', () => {
    it('passes arguments after -- and exits with the program code', async () => {
      const args = await runCli([
        'run',
        test('assemblyscript', 'args_get-multiple-arguments'),
        '--',
        'first',
        'the "second" arg',
        '3',
      ]);
      expect(args.code, args.stderr).toBe(0);
      const exit = await runCli(['run', test('assemblyscript', 'proc_exit-failure')]);
      expect(exit.code).toBe(33);
      expect(exit.stderr).toBe('');
    });

    it('passes --env', async () => {
      const r = await runCli([
        'run',
        test('assemblyscript', 'environ_get-multiple-variables'),
        '--env',
        'a=text',
        '--env',
        'b=escap " ing',
        '--env',
        'c=new\nline',
      ]);
      expect(r.code, r.stderr).toBe(0);
    });

    it('sees a granted directory, and nothing without the grant', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sandbox-wasi-cli-'));
      cpSync(join(suite, 'c', 'fs-tests.dir'), join(dir, 'fs-tests.dir'), { recursive: true });
      const granted = await runCli(['run', test('c', 'fopen-with-access'), '--dir', `${join(dir, 'fs-tests.dir')}:/`]);
      expect(granted.code, granted.stderr).toBe(0);
      const denied = await runCli(['run', test('c', 'fopen-with-access')]);
      expect(denied.code).not.toBe(0);
    });

    it('enforces a read-only grant', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sandbox-wasi-ro-'));
      writeFileSync(join(dir, 'keep.txt'), 'original');
      // Any suite program that writes into its root fails under :ro; the file on the host stays as it was.
      const r = await runCli(['run', test('c', 'fopen-with-access'), '--dir', `${dir}:/:ro`]);
      expect(r.code).not.toBe(0);
      expect(existsSync(join(dir, 'keep.txt'))).toBe(true);
    });
  });
});
