// `sandbox run`: inputs from flag, file and stdin; limits; exit codes 0/1/2; JSON output.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { agentPath, fixturePath, requireBuilt } from '../support/paths.ts';

describe('sandbox run', () => {
  it('runs echo with --input and prints the output', async () => {
    const r = await runCli(['run', requireBuilt(agentPath('echo')), '--input', '{"hello":"world"}']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ hello: 'world' });
    expect(r.stderr).toMatch(/status: ok \(engine wasm/);
  });

  it('prints the whole RunResult with --json', async () => {
    const r = await runCli(['run', agentPath('vowels'), '--input', '{"text":"Hello World"}', '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ status: 'ok', output: { count: 3 }, engine: 'wasm' });
    expect(result.fuelUsed).toBeGreaterThan(0);
  });

  it('reads the input from stdin and from a file', async () => {
    const viaStdin = await runCli(['run', agentPath('echo'), '--json'], { stdin: '{"from":"stdin"}' });
    expect(JSON.parse(viaStdin.stdout).output).toEqual({ from: 'stdin' });
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-cli-'));
    writeFileSync(join(dir, 'in.json'), '[1,2,3]');
    const viaFile = await runCli(['run', agentPath('echo'), '--input-file', join(dir, 'in.json'), '--json']);
    expect(JSON.parse(viaFile.stdout).output).toEqual([1, 2, 3]);
  });

  it('stops loop-forever with --timeout 100 in under a second and exits 1', async () => {
    const started = Date.now();
    const r = await runCli(['run', requireBuilt(fixturePath('loop-forever')), '--timeout', '100', '--fuel', '0', '--json']);
    expect(Date.now() - started).toBeLessThan(1000 + 1500); // + worker start-up under the test runner
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'timeout' });
  });

  it('reports out-of-fuel with --fuel', async () => {
    const r = await runCli(['run', fixturePath('loop-forever'), '--fuel', '10000', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'out-of-fuel', fuelUsed: 10000 });
  });

  it('clamps memory with --memory', async () => {
    const r = await runCli(['run', fixturePath('grow-memory-forever'), '--memory', '1MiB', '--json']);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(result.status).toBe('out-of-memory');
    expect(result.memoryPeakBytes).toBeLessThanOrEqual(1 << 20);
  });

  it('exits 2 for an invalid module, naming the problem', async () => {
    const r = await runCli(['run', fixturePath('garbage')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/status: invalid-module/);
    expect(r.stderr).toMatch(/magic/);
  });

  it.each([
    [['run'], /which agent/],
    [['run', 'nope.wasm'], /no such file/],
    [['run', agentPath('echo'), '--input', '{bad'], /--input is not valid JSON/],
    [['run', 'x.wasm', '--memory', 'lots'], /--memory expects a size/],
    [['run', 'x.wasm', '--engine', 'v9'], /--engine must be/],
    [['run', 'x.wasm', '--bogus'], /Unknown option/],
    [['run', agentPath('echo'), '--memory', '100GiB'], /memoryBytes must be at most 4 GiB/],
    [['run', agentPath('echo'), '--timeout', '3000000000'], /timeoutMs must be at most 2147483647/],
    [['frobnicate'], /unknown command/],
  ])('exits 2 on usage error %j', async (argv, message) => {
    const r = await runCli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('prints help', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Commands:[\s\S]*run[\s\S]*instrument/);
    const run = await runCli(['run', '--help']);
    expect(run.stdout).toMatch(/--timeout <ms>/);
  });
});
