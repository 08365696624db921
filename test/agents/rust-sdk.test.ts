// The Rust guest SDK (agents/sdk) through its self-check agent `echo-rust`: codec round trips and failure paths.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { ISOLATIONS } from '../support/engines.ts';
import { MSGPACK_ROUND_TRIPS } from '../support/msgpack-cases.ts';
import type { Agent } from '../../runtime/index.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const echoWasm = resolve(repoRoot, 'agents', 'build', 'echo-rust.wasm');

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

describe.each(ISOLATIONS)('rust sdk: echo-rust (%s)', (isolation) => {
  let sandbox: Sandbox;
  let agent: Agent;

  beforeAll(async () => {
    sandbox = new Sandbox({ workers: 1, isolation });
    agent = await sandbox.load(echoWasm, { limits: { timeoutMs: 20_000 } });
  });

  afterAll(async () => {
    await sandbox?.close();
  });

  // Each case hits a different wire format on the way in and must be re-encoded to the same value.
  const roundTrips: Array<[string, unknown]> = [...MSGPACK_ROUND_TRIPS, ['nesting within the limit', nested(200)]];

  it.each(roundTrips)('round-trips %s', async (_what, value) => {
    const r = await agent.run(value);
    expect(r.status).toBe('ok');
    expect(normalize(r.output)).toEqual(normalize(value));
  });

  it('reuses its input buffer across a large and a small run', async () => {
    const big = { s: 'q'.repeat(300_000) };
    expect((await agent.run(big)).output).toEqual(big);
    expect((await agent.run({ s: 'tiny' })).output).toEqual({ s: 'tiny' });
  });

  it('refuses nesting past the decoder limit as invalid input', async () => {
    const r = await agent.run(nested(300));
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(2);
    expect(r.message).toMatch(/nesting too deep/);
  });

  it('returns the handler error code and logs its message', async () => {
    const r = await agent.run({ $fail: 7, message: 'boom' });
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(7);
    expect(r.message).toBe('boom');
    expect(r.logs).toContainEqual({ level: 'error', message: 'boom' });
  });

  it('maps a non-positive error code to 1, because 0 means success', async () => {
    const r = await agent.run({ $fail: 0 });
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(1);
  });

  it('logs a panic at level error, then traps', async () => {
    const r = await agent.run({ $panic: 'the sky fell' });
    expect(r.status).toBe('trap');
    expect(r.output).toBeNull();
    const panicLine = r.logs.find((l) => l.level === 'error' && l.message.includes('the sky fell'));
    expect(panicLine?.message).toMatch(/^panicked at 'the sky fell', agents\/echo-rust\/lib\.rs:\d+:\d+$/);
    // The panic's text is in the run's message too, not only in the logs.
    expect(r.message).toMatch(
      /^the agent trapped: .+ \(after logging: panicked at 'the sky fell', agents\/echo-rust\/lib\.rs:\d+:\d+\)$/,
    );
  });

  it('runs normally after a panic (the instance is replaced or still usable)', async () => {
    await agent.run({ $panic: 'again' });
    const r = await agent.run({ ok: 1 });
    expect(r.status).toBe('ok');
    expect(r.output).toEqual({ ok: 1 });
  });

  it('keeps state between runs and calls sandbox_init once', async () => {
    const fresh = await sandbox.load(echoWasm);
    try {
      const stats = [];
      for (let i = 0; i < 3; i++) stats.push((await fresh.run({ $stats: true })).output);
      expect(stats).toEqual([
        { runs: 1, inits: 1 },
        { runs: 2, inits: 1 },
        { runs: 3, inits: 1 },
      ]);
    } finally {
      fresh.close();
    }
  });

  it('emits events and logs through the host imports', async () => {
    const input = { $emit: 'rust.echo', $log: 'hello from rust', x: 1 };
    const r = await agent.run(input);
    expect(r.status).toBe('ok');
    expect(r.events).toEqual([{ topic: 'rust.echo', payload: input }]);
    expect(r.logs).toContainEqual({ level: 'info', message: 'hello from rust' });
  });

  it('reports an emit the host refuses as a failed run', async () => {
    const r = await agent.run({ $emit: 'bad topic with spaces' });
    expect(r.status).not.toBe('ok');
    expect(r.events).toEqual([]);
  });
});
