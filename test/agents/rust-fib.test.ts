// The Rust `fib` agent (agents/fib) through the Sandbox: exact values, and bad input ends as status 'error'.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { ISOLATIONS } from '../support/engines.ts';
import type { Agent } from '../../runtime/index.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const fibWasm = resolve(repoRoot, 'agents', 'build', 'fib.wasm');

describe.each(ISOLATIONS)('rust agent: fib (%s)', (isolation) => {
  let sandbox: Sandbox;
  let agent: Agent;

  beforeAll(async () => {
    sandbox = new Sandbox({ workers: 1, isolation });
    // fib(30) is ~2.7 million calls: give it room on a slow, shared machine.
    agent = await sandbox.load(fibWasm, { limits: { timeoutMs: 20_000 } });
  });

  afterAll(async () => {
    await sandbox?.close();
  });

  it.each([
    [0, 0],
    [1, 1],
    [2, 1],
    [10, 55],
    [30, 832040],
  ])('fib(%i) = %i', async (n, value) => {
    const r = await agent.run({ n });
    expect(r.status).toBe('ok');
    expect(r.output).toEqual({ value });
  });

  it('accepts n sent as an integral float', async () => {
    const r = await agent.run({ n: 12.0 });
    expect(r.output).toEqual({ value: 144 });
  });

  it.each([
    ['a missing field', {}],
    ['a negative n', { n: -1 }],
    ['a string n', { n: 'ten' }],
    ['a fractional n', { n: 2.5 }],
    ['an n above u32', { n: 2 ** 40 }],
    ['input that is not a map', 7],
  ])('fails with status error on %s', async (_what, input) => {
    const r = await agent.run(input);
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(2);
    expect(r.output).toBeNull();
    expect(r.message).toMatch(/`n`/);
    expect(r.logs.some((l) => l.level === 'error' && /`n`/.test(l.message))).toBe(true);
  });

  it('keeps working after a failed run', async () => {
    expect((await agent.run({ n: 'x' })).status).toBe('error');
    const r = await agent.run({ n: 20 });
    expect(r.status).toBe('ok');
    expect(r.output).toEqual({ value: 6765 });
  });
});
