// The AssemblyScript agent `counter`: state in a global survives between runs of one instance, and only that instance.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../runtime/index.ts';
import { MATRIX, sandboxPerBlock } from '../support/engines.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const counterWasm = resolve(repoRoot, 'agents', 'build', 'counter.wasm');

describe.each(MATRIX)('assemblyscript agent: counter ($engine, $isolation)', ({ engine, isolation }) => {
  const sandbox = sandboxPerBlock(engine, { isolation });

  async function fresh(): Promise<Agent> {
    return sandbox().load(counterWasm, { limits: { timeoutMs: 20_000 } });
  }

  async function count(agent: Agent, input: unknown): Promise<unknown> {
    const r = await agent.run(input);
    expect(r.status).toBe('ok');
    return r.output;
  }

  it('counts 1, 2, 3 over three runs', async () => {
    const agent = await fresh();
    expect(await count(agent, {})).toEqual({ count: 1 });
    expect(await count(agent, {})).toEqual({ count: 2 });
    expect(await count(agent, {})).toEqual({ count: 3 });
  });

  it('adds `by`, including negative and 64-bit amounts', async () => {
    const agent = await fresh();
    expect(await count(agent, { by: 5 })).toEqual({ count: 5 });
    expect(await count(agent, { by: -2 })).toEqual({ count: 3 });
    expect(await count(agent, { by: 2 ** 40 })).toEqual({ count: 2 ** 40 + 3 });
    expect(await count(agent, { by: 2n ** 62n })).toEqual({ count: 2n ** 62n + 2n ** 40n + 3n });
  });

  it('treats nil input and a nil `by` as 1', async () => {
    const agent = await fresh();
    expect(await count(agent, null)).toEqual({ count: 1 });
    expect(await count(agent, { by: null })).toEqual({ count: 2 });
  });

  it('keeps separate counts for separate instances', async () => {
    const a = await fresh();
    const b = await fresh();
    await count(a, {});
    await count(a, {});
    expect(await count(b, {})).toEqual({ count: 1 });
    expect(await count(a, {})).toEqual({ count: 3 });
  });

  it('refuses a `by` that is not an integer, without counting', async () => {
    const agent = await fresh();
    await count(agent, {});
    for (const by of ['x', 1.5, [1]]) {
      const r = await agent.run({ by });
      expect(r.status).toBe('error');
      expect(r.errorCode).toBe(2);
      expect(r.message).toBe('counter: `by` must be an integer');
    }
    expect(await count(agent, {})).toEqual({ count: 2 });
  });

  it('refuses input that is neither nil nor a map', async () => {
    const agent = await fresh();
    const r = await agent.run([1, 2]);
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(1);
  });
});
