// How runs cross to an agent worker: runs submitted together go as one message; a lone run to an idle worker goes through the shared slot.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { encode, Sandbox } from '../../runtime/index.ts';
import { agentPath, fixturePath, requireBuilt } from '../support/paths.ts';

/** Counts the runs the host posts to workers by message (the shared slot carries the others). */
function spyOnRunMessages(): { runs: number; messages: number; restore: () => void } {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, called with its own `this`
  const original = Worker.prototype.postMessage;
  const seen = {
    runs: 0,
    messages: 0,
    restore: () => {
      Worker.prototype.postMessage = original;
    },
  };
  Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: readonly never[]) {
    const m = message as { t?: string; runs?: { seqs: Float64Array } };
    if (m.t === 'runs') {
      seen.messages++;
      seen.runs += m.runs!.seqs.length;
    }
    original.call(this, message, transfer);
  };
  return seen;
}

describe('worker hand-off', () => {
  const sandbox = new Sandbox({ workers: 1 });
  let spy: ReturnType<typeof spyOnRunMessages> | undefined;
  afterEach(() => spy?.restore());
  afterAll(() => sandbox.close());

  it('leaves the output in the worker for runs that discard it, and hashes the digest prefix with the input there', async () => {
    const agent = await sandbox.load(requireBuilt(agentPath('echo')));
    expect((await agent.run({ warm: true })).status).toBe('ok');
    const inputs = Array.from({ length: 20 }, (_, i) => encode({ i }));
    const prefix = Buffer.from('in.x\0\0');
    // Submitted in one tick, so they go as one batch message (a lone run through the slot keeps its output).
    const [kept, dropped] = await Promise.all([
      Promise.all(inputs.map((input) => agent.runEncoded(input))),
      Promise.all(inputs.map((input) => agent.runEncoded(input, { discardOutput: true, digestPrefix: prefix }))),
    ]);
    expect(kept.map((r) => (r.output as { i: number }).i)).toEqual(inputs.map((_, i) => i));
    expect(kept.every((r) => r.inputDigest === undefined)).toBe(true);
    expect(dropped.map((r) => [r.status, r.output])).toEqual(inputs.map(() => ['ok', null]));
    expect(dropped.map((r) => r.inputDigest)).toEqual(
      inputs.map((input) => createHash('sha256').update(prefix).update(input).digest('hex').slice(0, 24)),
    );
  });

  it('sends runs submitted in one tick to an idle worker as one message, and a lone run through the slot', async () => {
    const agent = await sandbox.load(requireBuilt(agentPath('echo')));
    expect((await agent.run({ warm: true })).status).toBe('ok');
    spy = spyOnRunMessages();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => agent.run({ i })));
    expect(results.map((r) => (r.output as { i: number }).i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // All 50 in one message: none split off into the slot, which would wake the worker a second time.
    expect({ runs: spy.runs, messages: spy.messages }).toEqual({ runs: 50, messages: 1 });
    const lone = await agent.run({ lone: 1 });
    expect(lone.output).toEqual({ lone: 1 });
    expect(spy.runs).toBe(50);
    agent.close();
  });

  it('times out a hung run inside a batch on its own deadline; the runs around it answer (replayed on a new worker)', async () => {
    const own = new Sandbox({ workers: 1 });
    try {
      const echo = await own.load(requireBuilt(agentPath('echo')));
      const hung = await own.load(fixturePath('loop-forever'), { limits: { timeoutMs: 150, fuel: 0 } });
      const before = Array.from({ length: 20 }, (_, i) => echo.run({ i }));
      const stuck = hung.run({});
      const after = Array.from({ length: 20 }, (_, i) => echo.run({ i: 20 + i }));
      const results = await Promise.all([...before, stuck, ...after]);
      expect(results[20]!.status).toBe('timeout');
      const others = results.filter((_, i) => i !== 20);
      expect(others.map((r) => r.status)).toEqual(Array.from({ length: 40 }, () => 'ok'));
      expect(others.map((r) => (r.output as { i: number }).i)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(own.workerRestarts).toBe(1);
    } finally {
      await own.close();
    }
  });
});
