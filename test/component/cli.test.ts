// `sandbox run component.wasm`: a component agent runs like a core agent, with the same report and exit codes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { componentPath } from './build.ts';

describe('sandbox run on a component', () => {
  it('prints the output, the status, events and logs', async () => {
    const r = await runCli(['run', componentPath('echo-component'), '--input', '{"hello":[1,2]}']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ hello: [1, 2] });
    expect(r.stderr).toMatch(/^status: ok \(engine wasm, [\d.]+ ms, fuel \d+, memory 64 KiB\)$/m);
    expect(r.stderr).toMatch(/^event echo\.seen: \{"hello":\[1,2\]\}$/m);
    expect(r.stderr).toMatch(/^log info: echo handled the input$/m);
  });

  it('reads the input from stdin and reports the whole result with --json', async () => {
    const r = await runCli(['run', componentPath('echo-component'), '--json'], { stdin: '"fail"' });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'error', message: 'asked to fail', output: null });
  });

  it('exits 1 on out-of-fuel and on timeout', async () => {
    const fuel = await runCli(['run', componentPath('loop-forever-component'), '--fuel', '100000']);
    expect(fuel.code).toBe(1);
    expect(fuel.stderr).toMatch(/^status: out-of-fuel .*fuel 100000,/m);
    const clock = await runCli(['run', componentPath('loop-forever-component'), '--fuel', '0', '--timeout', '200']);
    expect(clock.code).toBe(1);
    expect(clock.stderr).toMatch(/^status: timeout /m);
  });

  it('exits 2 with invalid-module for a truncated component, never crashing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'component-cli-'));
    const file = join(dir, 'truncated.wasm');
    writeFileSync(file, readFileSync(componentPath('echo-component')).subarray(0, 200));
    const r = await runCli(['run', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^status: invalid-module /m);
    expect(r.stderr).toMatch(/not a valid WebAssembly component/);
  });

  it('refuses WASI-command flags', async () => {
    const r = await runCli(['run', componentPath('echo-component'), '--env', 'A=1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/component agent/);
  });

  it('says so in its help', async () => {
    const r = await runCli(['run', '--help']);
    expect(r.stdout + r.stderr).toMatch(/component of\s+world `agent`/);
  });
});
