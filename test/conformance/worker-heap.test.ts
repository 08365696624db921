// A guest that makes its worker hold too much host memory loses that worker only, and its run says so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { fixturePath, requireBuilt } from '../support/paths.ts';

describe('worker heap limit (resourceLimits)', () => {
  let sandbox: Sandbox;

  beforeAll(() => {
    sandbox = new Sandbox({ workers: 1, workerHeapMb: 128 });
  });

  afterAll(async () => {
    await sandbox.close();
  });

  it('ends the run limit-exceeded, naming the run, and keeps serving other agents', async () => {
    const healthy = await sandbox.load(requireBuilt(fixturePath('output-ok')));
    // Log lines are strings on the worker's heap (events are bytes off it): 10,000 lines of 60 KB, log limits
    // raised, need 600 MB.
    const flood = await sandbox.load(requireBuilt(fixturePath('log-large-lines')), {
      limits: { maxLogs: 1_000_000, logBytes: 2 ** 31, timeoutMs: 60_000, fuel: 0 },
    });
    const r = await flood.run(null);
    expect(r.status).toBe('limit-exceeded');
    expect(r.message).toMatch(/heap/);
    expect(r.message).toMatch(new RegExp(`agent ${flood.id}\\b`));
    expect(sandbox.workerRestarts).toBe(1);
    const after = await healthy.run(null);
    expect(after.status).toBe('ok');
    expect(after.output).toEqual({ ok: true, n: 42 });
  }, 90_000);
});
