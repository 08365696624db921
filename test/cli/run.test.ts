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
    const r = await runCli([
      'run',
      requireBuilt(fixturePath('loop-forever')),
      '--timeout',
      '100',
      '--fuel',
      '0',
      '--json',
    ]);
    expect(Date.now() - started).toBeLessThan(5000); // a 100 ms clock + worker start-up on a loaded 2-core machine
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
    [['run', 'x.wasm', '--bogus'], /^sandbox run: unknown option --bogus\nTry 'sandbox run --help'.\n$/],
    [['run', 'x.wasm', '--fule', '5'], /unknown option --fule \(did you mean --fuel\?\)/],
    [['run', 'x.wasm', '--fuel', '-5'], /--fuel expects a non-negative integer, got "-5"/],
    [['run', 'x.wasm', '--timeout', 'soon'], /--timeout expects a duration such as 500ms, 1s or 2m/],
    [['run', 'x.wasm', '--input'], /--input needs a value/],
    [['run', 'agents'], /agents is a directory; give the path of a \.wasm file in it/],
    [['rnu'], /unknown command "rnu" \(did you mean run\?\)/],
    [['run', agentPath('echo'), '--memory', '100GiB'], /memoryBytes must be at most 4 GiB/],
    [['run', agentPath('echo'), '--timeout', '3000000000'], /timeoutMs must be at most 2147483647/],
    [['frobnicate'], /unknown command/],
  ])('exits 2 on usage error %j', async (argv, message) => {
    const r = await runCli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('takes durations with units for --timeout', async () => {
    const r = await runCli(['run', fixturePath('loop-forever'), '--timeout', '0.2s', '--fuel', '0', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({
      status: 'timeout',
      message: expect.stringMatching(/limit of 200 ms/),
    });
  });

  it('sets every limit from a flag', async () => {
    const input = JSON.stringify({ text: 'x'.repeat(2000) });
    const out = await runCli(['run', agentPath('echo'), '--input', input, '--output-limit', '1KiB', '--json']);
    expect(JSON.parse(out.stdout)).toMatchObject({ status: 'limit-exceeded' });
    const big = await runCli(['run', agentPath('echo'), '--input', input, '--input-limit', '1KiB', '--json']);
    expect(big.code).toBe(2); // the agent never ran: the input is the caller's to fix
    expect(JSON.parse(big.stdout)).toMatchObject({
      status: 'invalid-input',
      message: expect.stringMatching(/exceeds the input limit of 1024 bytes/),
    });
  });

  it('caps log text with --log-limit and --log-line-limit', async () => {
    // log-flood logs 1000 lines of 'flood line' (10 bytes).
    const total = await runCli(['run', fixturePath('log-flood'), '--log-limit', '25', '--json']);
    expect(JSON.parse(total.stdout)).toMatchObject({ status: 'ok', logsDropped: 998 });
    const line = await runCli(['run', fixturePath('log-flood'), '--log-line-limit', '9', '--json']);
    expect(JSON.parse(line.stdout)).toMatchObject({ status: 'ok', logs: [], logsDropped: 1000 });
  });

  it('passes text as a string with --raw, from --input and stdin', async () => {
    const inline = await runCli(['run', agentPath('echo'), '--raw', '--input', 'not json', '--json']);
    expect(JSON.parse(inline.stdout).output).toBe('not json');
    const piped = await runCli(['run', agentPath('echo'), '--raw', '--json'], { stdin: 'line one\n' });
    expect(JSON.parse(piped.stdout).output).toBe('line one\n');
  });

  it('stops reading stdin past what the input limit allows, as a usage error', async () => {
    const r = await runCli(['run', agentPath('echo'), '--input-limit', '1KiB'], { stdin: 'x'.repeat(10_000) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/stdin holds more than 3072 bytes.*raise --input-limit/);
  });

  it('answers in JSON for usage errors and missing files with --json', async () => {
    const missing = await runCli(['run', 'nope.wasm', '--json']);
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toEqual({
      error: { code: 'SANDBOX_MODULE_NOT_FOUND', message: 'no such file: nope.wasm' },
    });
    const flag = await runCli(['run', 'x.wasm', '--fule', '1', '--json']);
    expect(JSON.parse(flag.stdout)).toEqual({
      error: { code: 'SANDBOX_USAGE', message: 'unknown option --fule (did you mean --fuel?)' },
    });
    const command = await runCli(['rnu', '--json']);
    expect(JSON.parse(command.stdout).error.message).toMatch(/did you mean run/);
    expect(missing.stderr + flag.stderr + command.stderr).toBe('');
  });

  it('prints help', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Commands:[\s\S]*run[\s\S]*instrument/);
    const run = await runCli(['run', '--help']);
    expect(run.stdout).toMatch(/--timeout <duration>/);
  });
});
