// The AssemblyScript agent `vowels`: the same answers as Extism's count_vowels plugin, run by the sandbox.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../runtime/index.ts';
import { MATRIX, sandboxPerBlock } from '../support/engines.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const vowelsWasm = resolve(repoRoot, 'agents', 'build', 'vowels.wasm');
const extismPlugin = resolve(repoRoot, '..', 'shared', 'anchors', 'extism', 'code.wasm');

const VOWELS = 'aeiouAEIOU';

describe.each(MATRIX)('assemblyscript agent: vowels ($engine, $isolation)', ({ engine, isolation }) => {
  const sandbox = sandboxPerBlock(engine, { isolation });

  async function fresh(): Promise<Agent> {
    return sandbox().load(vowelsWasm, { limits: { timeoutMs: 20_000 } });
  }

  it('counts the vowels of "Hello World" as Extism\'s plugin does', async () => {
    const agent = await fresh();
    const r = await agent.run({ text: 'Hello World' });
    expect(r.status).toBe('ok');
    expect(r.output).toEqual({ count: 3, total: 3, vowels: VOWELS });
    expect(r.events).toEqual([]);
    expect(r.logs).toEqual([]);
  });

  it("keeps a running total over the runs of one instance, like the plugin's `total` variable", async () => {
    const agent = await fresh();
    const cases: Array<[string, number]> = [
      ['Hello World', 3],
      ['', 0],
      ['AEIOU aeiou', 10],
      ['rhythm', 0],
      ['Ünïcödé àéîõü', 0], // only ASCII vowels count
      ['naïve café', 3],
      ['😀a😀E😀', 2],
    ];
    let total = 0;
    for (const [text, count] of cases) {
      total += count;
      const r = await agent.run({ text });
      expect(r.status).toBe('ok');
      expect(r.output).toEqual({ count, total, vowels: VOWELS });
    }
  });

  it('counts a long text', async () => {
    const agent = await fresh();
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(2000);
    const r = await agent.run({ text });
    expect(r.output).toEqual({ count: 11 * 2000, total: 11 * 2000, vowels: VOWELS });
  });

  it("accepts a bare string, as the plugin's input is", async () => {
    const agent = await fresh();
    expect((await agent.run('Hello World')).output).toEqual({ count: 3, total: 3, vowels: VOWELS });
  });

  it('ignores other fields of the input map', async () => {
    const agent = await fresh();
    const r = await agent.run({ lang: 'en', text: 'banana', n: 7 });
    expect(r.output).toEqual({ count: 3, total: 3, vowels: VOWELS });
  });

  it.each([
    ['no text field', { txt: 'hello' }],
    ['a text that is not a string', { text: 42 }],
    ['a number', 5],
    ['nil', null],
  ])('fails with code 1 and a message for %s', async (_what, input) => {
    const agent = await fresh();
    const r = await agent.run(input);
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(1);
    expect(r.message).toBe('vowels: input must be {text: string}');
    expect(r.output).toBeNull();
  });

  it("gives the same outputs as Extism's count_vowels plugin, call for call", async (ctx) => {
    if (!existsSync(extismPlugin)) {
      ctx.skip(`Extism's plugin is not at ${extismPlugin} (the shared anchors are absent)`);
      return;
    }
    const { default: createPlugin } = await import('@extism/extism');
    const plugin = await createPlugin(extismPlugin, { useWasi: true });
    const agent = await fresh();
    try {
      for (const text of ['Hello World', 'héllo ÀÉ aeiou', '', 'AEIOUaeiou xyz', 'x'.repeat(100) + 'a']) {
        const expected = JSON.parse((await plugin.call('count_vowels', text))!.text());
        const r = await agent.run({ text });
        expect(r.output).toEqual(expected);
      }
    } finally {
      await plugin.close();
    }
  });
});
