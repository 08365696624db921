// Extism's own test plugins run unchanged by the sandbox give the outputs @extism/extism 2.0.0-rc13 gives, under fuel.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import createPlugin, { type CallContext } from '@extism/extism';
import { parse } from '@bytecodealliance/jco';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { PluginOutput } from '../../runtime/agent/plugin-output.ts';
import { ENGINES, sandboxPerBlock } from '../support/engines.ts';
import { sharedDir } from '../support/paths.ts';

const plugin = (name: string) => join(sharedDir, 'anchors', 'extism', `${name}.wasm`);
const text = (bytes: Uint8Array | null | undefined) => (bytes ? new TextDecoder().decode(bytes) : null);

/** What Extism's own SDK answers for each case, computed once in this process. */
const reference: Record<string, string | null> = {};
const INPUTS = ['Hello World', 'Hello World yy', '', 'ÄÖÜ äöü aeiou'];

beforeAll(async () => {
  const code = await createPlugin(
    { wasm: [{ data: readFileSync(plugin('code')) }], config: { vowels: 'aeiouyAEIOUY' } },
    { useWasi: false },
  );
  for (const input of INPUTS) reference[`code:${input}`] = text((await code.call('count_vowels', input))?.bytes());
  await code.close();
  const consume = await createPlugin({ wasm: [{ data: readFileSync(plugin('consume')) }] }, { useWasi: false });
  reference.consume = text((await consume.call('consume', 'abcdefgh'.repeat(512)))?.bytes());
  await consume.close();
  const reflect = await createPlugin(
    { wasm: [{ data: readFileSync(plugin('reflect')) }] },
    {
      useWasi: false,
      functions: {
        'extism:host/user': { host_reflect: (ctx: CallContext, at: bigint) => ctx.store(ctx.read(at)!.bytes()) },
      },
    },
  );
  reference.reflect = text((await reflect.call('reflect', 'reflect me ✓'))?.bytes());
  await reflect.close();
});

describe.each(ENGINES)('Extism plugins, unchanged (%s)', (engine) => {
  const sandbox = sandboxPerBlock(engine);
  const limits = { timeoutMs: 30_000 };

  it('code.wasm count_vowels: the same output as Extism for every input, config and vars included', async () => {
    const agent = await sandbox().load(plugin('code'), { config: { vowels: 'aeiouyAEIOUY' }, limits });
    expect(agent.abi).toBe('extism'); // detected from its imports
    for (const input of INPUTS) {
      const r = await agent.call('count_vowels', input);
      expect(r.status, r.message).toBe('ok');
      expect(r.output).toBeInstanceOf(PluginOutput);
      expect((r.output as PluginOutput).text()).toBe(reference[`code:${input}`]);
      expect(r.fuelUsed).toBeGreaterThan(0);
    }
    // `total` is a var: it carried over the calls above, as in Extism.
    const again = await agent.call('count_vowels', new TextEncoder().encode('a'));
    expect((again.output as PluginOutput).json()).toMatchObject({ count: 1 });
    agent.close();
  });

  it('consume.wasm: reads all its input and answers what Extism answers', async () => {
    const agent = await sandbox().load(plugin('consume'), { limits });
    const r = await agent.call('consume', 'abcdefgh'.repeat(512));
    expect(r.status, r.message).toBe('ok');
    expect(text(r.output as Uint8Array | null)).toBe(reference.consume);
    const short = await agent.call('consume', 'abc'); // Extism's JS SDK throws here; the native kernel does not
    expect(short.status, short.message).toBe('ok');
    agent.close();
  });

  it('reflect.wasm: its host function host_reflect is ours, and the output matches Extism', async () => {
    const seen: { agent: string; runId: string }[] = [];
    const agent = await sandbox().load(plugin('reflect'), {
      limits,
      host: {
        host_reflect: (input: Uint8Array, ctx) => {
          seen.push({ agent: ctx.agent, runId: ctx.runId });
          return input;
        },
      },
    });
    const r = await agent.call('reflect', 'reflect me ✓');
    expect(r.status, r.message).toBe('ok');
    expect((r.output as PluginOutput).text()).toBe(reference.reflect);
    expect(seen).toEqual([{ agent: 'reflect', runId: expect.any(String) }]);
    agent.close();
  });

  it('reflect.wasm without its host function granted is refused at load, naming it', async () => {
    await expect(sandbox().load(plugin('reflect'), { limits })).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_MODULE',
      message: expect.stringContaining('host_reflect'),
    });
  });

  it('a throwing or rejecting host function is an error status with its message, logged, not a crash', async () => {
    for (const host_reflect of [
      () => {
        throw new Error('boom');
      },
      async () => Promise.reject(new Error('boom')),
    ]) {
      const agent = await sandbox().load(plugin('reflect'), { limits, host: { host_reflect } });
      const r = await agent.call('reflect', 'x');
      expect(r.status).toBe('error');
      expect(r.message).toContain('host function host_reflect failed: boom');
      expect(r.logs).toContainEqual({ level: 'error', message: 'host function host_reflect failed: boom' });
      // The instance is still good.
      agent.close();
    }
  });

  it('loop-forever.wasm runs out of fuel', async () => {
    const agent = await sandbox().load(plugin('loop-forever'), {
      abi: 'extism',
      limits: { fuel: 2_000_000, timeoutMs: 30_000 },
    });
    const r = await agent.call('loop');
    expect(r.status).toBe('out-of-fuel');
    expect(r.fuelUsed).toBe(2_000_000);
  });

  it('calling a function the plugin does not export is invalid-input naming the exports; run() on a plugin is refused', async () => {
    const agent = await sandbox().load(plugin('code'), { limits });
    const r = await agent.call('nope', 'x');
    expect(r.status).toBe('invalid-input');
    expect(r.message).toContain('count_vowels');
    expect((await agent.run('x')).status).toBe('invalid-input');
    agent.close();
  });
});

describe('Extism plugins and the sandbox', () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = new Sandbox({ workers: 1 });
  });
  afterAll(() => sandbox.close());

  it('a guest ABI v1 agent is not mistaken for a plugin, and call() on it is refused', async () => {
    const { agentPath } = await import('../support/paths.ts');
    const agent = await sandbox.load(agentPath('echo'));
    expect(agent.abi).toBe('sandbox');
    expect((await agent.call('x', 'y')).status).toBe('invalid-input');
    agent.close();
  });

  it("vars belong to the instance's state: with state 'reset' every call starts from the vars after initialisation", async () => {
    const agent = await sandbox.load(plugin('code'), { state: 'reset' });
    for (let i = 0; i < 3; i++)
      expect(((await agent.call('count_vowels', 'aaa')).output as PluginOutput).json()).toMatchObject({
        count: 3,
        total: 3,
      });
    const kept = await sandbox.load(plugin('code'));
    await kept.call('count_vowels', 'aaa');
    expect(((await kept.call('count_vowels', 'aaa')).output as PluginOutput).json()).toMatchObject({ total: 6 });
  });

  it('callSync calls an inline plugin on this thread; a worker plugin refuses it', async () => {
    const inline = await sandbox.load(plugin('code'), { isolation: 'inline' });
    expect(inline.callSync('count_vowels', 'aei').output?.json()).toMatchObject({ count: 3 });
    const worker = await sandbox.load(plugin('code'));
    expect(() => worker.callSync('count_vowels', 'a')).toThrow(
      expect.objectContaining({ code: 'SANDBOX_INVALID_OPTIONS' }),
    );
    inline.close();
    expect(() => inline.callSync('count_vowels', 'a')).toThrow(expect.objectContaining({ code: 'SANDBOX_CLOSED' }));
  });

  it('runs inline too, with host functions called directly (sync) and an async one refused as an error', async () => {
    const agent = await sandbox.load(plugin('reflect'), {
      isolation: 'inline',
      host: { host_reflect: (b: Uint8Array) => b },
    });
    const r = await agent.call('reflect', 'inline');
    expect(r.status, r.message).toBe('ok');
    expect((r.output as PluginOutput).text()).toBe('inline');
    const async = await sandbox.load(plugin('reflect'), {
      isolation: 'inline',
      host: { host_reflect: async (b: Uint8Array) => b },
    });
    const a = await async.call('reflect', 'x');
    expect(a.status).toBe('error');
    expect(a.message).toContain("with isolation 'inline' host functions must answer synchronously");
  });

  it("a plugin loaded as a guest ABI v1 agent (abi 'sandbox', as topologies do) is refused, saying it is a plugin", async () => {
    await expect(sandbox.load(plugin('code'), { abi: 'sandbox' })).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_MODULE',
      message: expect.stringContaining('it is an Extism plugin'),
    });
  });

  it('an input past limits.inputBytes is invalid-input, counted in UTF-8 bytes', async () => {
    const agent = await sandbox.load(plugin('code'), { limits: { inputBytes: 5 } });
    expect((await agent.call('count_vowels', 'Hello')).status).toBe('ok');
    const r = await agent.call('count_vowels', 'Hellö');
    expect(r.status).toBe('invalid-input');
    expect(r.message).toContain('6 bytes');
  });

  it('a var past limits.varBytes fails the call as limit-exceeded', async () => {
    const agent = await sandbox.load(plugin('code'), { limits: { varBytes: 0 } });
    // count_vowels keeps a running `total` in a var.
    const r = await agent.call('count_vowels', 'Hello');
    expect(r.status).toBe('limit-exceeded');
    expect(r.message).toContain('var_set');
  });

  it('a host function that never settles ends the call at the run timeout', async () => {
    const agent = await sandbox.load(plugin('reflect'), {
      limits: { timeoutMs: 300 },
      host: { host_reflect: () => new Promise(() => {}) },
    });
    const r = await agent.call('reflect', 'x');
    expect(r.status).toBe('timeout');
  });
});

describe('Extism plugins that use WASI', () => {
  const sandbox = sandboxPerBlock('wasm');
  // Fills 8 bytes with WASI's random_get and outputs them.
  const RANDOM_PLUGIN = `(module
    (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
    (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
    (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
    (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
    (memory (export "memory") 1)
    (func (export "random") (result i32)
      (local $b i64)
      (if (call $random_get (i32.const 16) (i32.const 8)) (then (return (i32.const 1))))
      (local.set $b (call $alloc (i64.const 8)))
      (call $store_u64 (local.get $b) (i64.load (i32.const 16)))
      (call $output_set (local.get $b) (i64.const 8))
      (i32.const 0)))`;

  it("gets the sandbox's WASI with wasi: true, and is refused at load without it, naming the import", async () => {
    const bytes = await parse(RANDOM_PLUGIN);
    const agent = await sandbox().load(bytes, { wasi: true });
    const r = await agent.call('random');
    expect(r.status, r.message).toBe('ok');
    expect((r.output as Uint8Array).length).toBe(8);
    await expect(sandbox().load(bytes)).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_MODULE',
      message: expect.stringContaining('wasi: true'),
    });
  });
});

describe('the Extism kernel refuses bad addresses and reports plugin errors', () => {
  const sandbox = sandboxPerBlock('wasm');
  const KERNEL_PLUGIN = `(module
    (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
    (import "extism:host/env" "load_u64" (func $load_u64 (param i64) (result i64)))
    (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
    (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
    (import "extism:host/env" "error_set" (func $error_set (param i64)))
    (func (export "bad_load") (result i32) (drop (call $load_u64 (i64.const 999999))) (i32.const 0))
    (func (export "bad_output") (result i32) (call $output_set (i64.const 8) (i64.const 1073741824)) (i32.const 0))
    (func (export "huge_alloc") (result i32) (if (i64.eqz (call $alloc (i64.const 1099511627776))) (then (return (i32.const 7)))) (i32.const 0))
    (func (export "fails") (result i32)
      (local $b i64)
      (local.set $b (call $alloc (i64.const 2)))
      (call $store_u8 (local.get $b) (i32.const 110))
      (call $store_u8 (i64.add (local.get $b) (i64.const 1)) (i32.const 111))
      (call $error_set (local.get $b))
      (i32.const 0)))`;

  it('a load or an output outside the kernel memory is abi-violation; an allocation past the cap is 0; error_set is status error', async () => {
    const agent = await sandbox().load(await parse(KERNEL_PLUGIN), { abi: 'extism' });
    const load = await agent.call('bad_load');
    expect(load.status).toBe('abi-violation');
    expect(load.message).toContain('load_u64(999999)');
    expect((await agent.call('bad_output')).status).toBe('abi-violation');
    const huge = await agent.call('huge_alloc');
    expect(huge).toMatchObject({ status: 'error', errorCode: 7 });
    expect(await agent.call('fails')).toMatchObject({ status: 'error', message: 'no' });
    agent.close();
  });
});

describe('Extism plugins under the same limits and statuses as agents', () => {
  const LIMITS_PLUGIN = `(module
    (import "extism:host/env" "input_length" (func $il (result i64)))
    (memory (export "memory") 1)
    (func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))
    (func (export "recurse") (result i32) (call $down (i32.const 0)))
    (func (export "grow") (result i32) (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (unreachable))
    (func (export "trap") (result i32) (drop (call $il)) (unreachable)))`;

  describe.each(ENGINES)('%s', (engine) => {
    const sandbox = sandboxPerBlock(engine);
    it('stack-overflow, out-of-memory and trap; the instance is replaced after a trap', async () => {
      const agent = await sandbox().load(await parse(LIMITS_PLUGIN), {
        abi: 'extism',
        limits: { stackDepth: 500, memoryBytes: 4 * 65536, timeoutMs: 30_000 },
      });
      expect((await agent.call('recurse')).status).toBe('stack-overflow');
      expect((await agent.call('grow')).status).toBe('out-of-memory');
      expect((await agent.call('trap')).status).toBe('trap');
      agent.close();
    });
  });
});
