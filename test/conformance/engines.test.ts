// Same agents, same results: every example agent runs on V8 and on the TypeScript emulator with identical outcomes.
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox, type RunResult } from '../../runtime/index.ts';
import { agentPath, requireBuilt } from '../support/paths.ts';

/** Inputs per agent: a few that succeed and one that fails, so both paths are compared. */
const CASES: Record<string, unknown[]> = {
  echo: [{ hello: 'world', n: [1, 2, 3] }, null, 'text'],
  vowels: [{ text: 'Hello World' }, { text: 'héllo ÀÉ aeiou' }, { nope: 1 }],
  counter: [{}, { by: 5 }, {}],
  triage: [
    { ts: 1, level: 'error', service: 'db', msg: 'connection refused' },
    { ts: 2, level: 'info', service: 'web', msg: 'user logged in' },
    { ts: 3, level: 7 },
  ],
  fib: [{ n: 0 }, { n: 20 }, { n: -1 }],
  'hash-rust': [{ n: 1000, seed: 7 }, { n: 'x' }],
  'bench-loop': [{ n: 1000 }],
  'bench-hash': [{ n: 1000 }],
  'bench-strings': [{ n: 50 }],
  'bench-matmul': [{ n: 8 }],
};

const comparable = (r: RunResult) => ({
  status: r.status,
  output: r.output,
  events: r.events,
  logs: r.logs,
  fuelUsed: r.fuelUsed,
  memoryPeakBytes: r.memoryPeakBytes,
  errorCode: r.errorCode,
});

describe('V8 and the emulator agree', () => {
  const v8 = new Sandbox({ engine: 'wasm', workers: 1 });
  const emu = new Sandbox({ engine: 'emulator', workers: 1 });
  afterAll(async () => {
    await v8.close();
    await emu.close();
  });

  it.each(Object.entries(CASES))('%s: status, output, events, logs and fuel', async (name, inputs) => {
    const path = requireBuilt(agentPath(name));
    const [a, b] = await Promise.all([v8.load(path), emu.load(path)]);
    for (const input of inputs) {
      const [x, y] = await Promise.all([a.run(input), b.run(input)]);
      expect(x.engine).toBe('wasm');
      expect(y.engine).toBe('emulator');
      expect(comparable(y), `${name} ${JSON.stringify(input)}`).toEqual(comparable(x));
    }
  });
});
