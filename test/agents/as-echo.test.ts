// The AssemblyScript agent `echo` (raw input bytes back as output) and the SDK self-check `echo-value` (decode, re-encode).
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { MSGPACK_ROUND_TRIPS } from '../support/msgpack-cases.ts';
import type { Agent } from '../../runtime/index.ts';
import { MATRIX, sandboxPerBlock } from '../support/engines.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const wasm = (name: string) => resolve(repoRoot, 'agents', 'build', `${name}.wasm`);

/** Binary values come back as Buffer or Uint8Array depending on the path; compare them as plain arrays. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bin: Array.from(value) };
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

// Each case hits a different wire format on the way in and must come back as the same value.
const roundTrips: Array<[string, unknown]> = [
  ...MSGPACK_ROUND_TRIPS,
  ['nested record', { user: { name: 'Zoë', tags: ['a', 'b'], scores: [1.5, -2, 3e100] }, ok: false, none: null }],
];

describe.each(MATRIX)('assemblyscript agent: echo ($engine, $isolation)', ({ engine, isolation }) => {
  const sandbox = sandboxPerBlock(engine, { isolation });
  let agent: Agent;

  beforeAll(async () => {
    agent = await sandbox().load(wasm('echo'), { limits: { timeoutMs: 20_000 } });
  });

  it.each(roundTrips)('returns %s unchanged', async (_what, value) => {
    const r = await agent.run(value);
    expect(r.status).toBe('ok');
    expect(normalize(r.output)).toEqual(normalize(value));
    expect(r.events).toEqual([]);
  });

  it('returns deep nesting unchanged, since it never decodes', async () => {
    const value = nested(1000);
    const r = await agent.run(value);
    expect(r.status).toBe('ok');
    expect(r.output).toEqual(value);
  });

  it('keeps working after a large input (its input buffer is released and replaced)', async () => {
    const big = { s: 'q'.repeat(300_000) };
    expect((await agent.run(big)).output).toEqual(big);
    expect((await agent.run({ s: 'tiny' })).output).toEqual({ s: 'tiny' });
  });
});

describe.each(MATRIX)(
  'assemblyscript sdk: echo-value (Value decode and encode) ($engine, $isolation)',
  ({ engine, isolation }) => {
    const sandbox = sandboxPerBlock(engine, { isolation });
    let agent: Agent;

    beforeAll(async () => {
      agent = await sandbox().load(wasm('echo-value'), { limits: { timeoutMs: 20_000 } });
    });

    it.each(roundTrips)('round-trips %s through a Value', async (_what, value) => {
      const r = await agent.run(value);
      expect(r.status).toBe('ok');
      expect(normalize(r.output)).toEqual(normalize(value));
    });

    it('decodes nesting up to its limit', async () => {
      const r = await agent.run(nested(255));
      expect(r.status).toBe('ok');
      expect(r.output).toEqual(nested(255));
    });

    it('refuses nesting past the decoder limit with code 2 instead of exhausting the stack', async () => {
      const r = await agent.run(nested(300));
      expect(r.status).toBe('error');
      expect(r.errorCode).toBe(2);
      expect(r.message).toMatch(/nesting too deep/);
    });

    it('returns the handler error code and the message logged at level error', async () => {
      const r = await agent.run({ $fail: 7, message: 'boom' });
      expect(r.status).toBe('error');
      expect(r.errorCode).toBe(7);
      expect(r.message).toBe('boom');
      expect(r.logs).toContainEqual({ level: 'error', message: 'boom' });
    });

    it('turns a negative handler code into 1, because the ABI wants a positive one', async () => {
      const r = await agent.run({ $fail: -5 });
      expect(r.status).toBe('error');
      expect(r.errorCode).toBe(1);
    });

    it('emits events and logs through the host imports', async () => {
      const input = { $emit: 'as.echo', $log: 'hello from AssemblyScript ✓', x: [1, 2] };
      const r = await agent.run(input);
      expect(r.status).toBe('ok');
      expect(r.events).toEqual([{ topic: 'as.echo', payload: input }]);
      expect(r.logs).toEqual([{ level: 'info', message: 'hello from AssemblyScript ✓' }]);
    });

    it('reports an emit the host refuses as a failed run, with no events', async () => {
      const r = await agent.run({ $emit: 'bad topic with spaces' });
      expect(r.status).not.toBe('ok');
      expect(r.events).toEqual([]);
    });

    it('reports a thrown Error (the runtime abort) as status error with its message', async () => {
      const r = await agent.run({ $abort: 'the sky fell' });
      expect(r.status).toBe('error');
      expect(r.message).toMatch(/the sky fell/);
      expect(r.output).toBeNull();
    });

    it('runs normally after an abort', async () => {
      await agent.run({ $abort: 'again' });
      const r = await agent.run({ ok: 1 });
      expect(r.status).toBe('ok');
      expect(r.output).toEqual({ ok: 1 });
    });
  },
);

describe.each(MATRIX)(
  'assemblyscript sdk: malformed MessagePack input ($engine, $isolation)',
  ({ engine, isolation }) => {
    const sandbox = sandboxPerBlock(engine, { isolation });
    const agents = new Map<string, Agent>();

    beforeAll(async () => {
      for (const name of ['echo-value', 'vowels', 'triage'])
        agents.set(name, await sandbox().load(wasm(name), { limits: { timeoutMs: 20_000 } }));
    });

    const malformed: Array<[string, number[]]> = [
      ['a str32 longer than the input', [0x81, 0xa4, 0x74, 0x65, 0x78, 0x74, 0xdb, 0xff, 0xff, 0xff, 0xf0, 0x61]],
      ['a map32 claiming 4G entries', [0xdf, 0xff, 0xff, 0xff, 0xff]],
      ['a truncated key', [0x81, 0xa4, 0x74, 0x65, 0x78]],
      ['the never-used byte 0xc1', [0xc1]],
      ['a truncated float64', [0xcb, 0x40, 0x09]],
    ];

    it.each(malformed)('echo-value refuses %s with code 2', async (_what, bytes) => {
      const r = await agents.get('echo-value')!.runEncoded(new Uint8Array(bytes));
      expect(r.status).toBe('error');
      expect(r.errorCode).toBe(2);
    });

    it.each(malformed)('vowels refuses %s with code 1', async (_what, bytes) => {
      const r = await agents.get('vowels')!.runEncoded(new Uint8Array(bytes));
      expect(r.status).toBe('error');
      expect(r.errorCode).toBe(1);
    });

    it('never traps on random bytes: every run is ok or a handler error', async () => {
      // A fixed xorshift sequence, so a failure reproduces.
      let seed = 0x2545f491;
      const next = () => {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return seed >>> 0;
      };
      for (let i = 0; i < 150; i++) {
        const bytes = new Uint8Array(1 + (next() % 40)).map(() => next() & 0xff);
        // Start most inputs with a map header, so the decoders get past the first byte.
        if (i % 2 === 0) bytes[0] = 0x80 | (next() % 4);
        for (const [name, agent] of agents) {
          const r = await agent.runEncoded(bytes);
          // echo-value hands back whatever valid MessagePack it got, including ext types and non-string map keys
          // that the host's decoder cannot turn into JavaScript values; the host reports those as invalid-output.
          const acceptable = name === 'echo-value' ? ['ok', 'error', 'invalid-output'] : ['ok', 'error'];
          expect(acceptable, `${name} on ${Buffer.from(bytes).toString('hex')}: ${r.message}`).toContain(r.status);
          if (r.status === 'error') expect(r.errorCode, `${name}: ${r.message}`).toBeGreaterThan(0);
        }
      }
    });
  },
);
