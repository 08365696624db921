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
    // Each event decodes to 50,000 small maps in the worker; 1000 of them (event limits raised) need gigabytes.
    const flood = await sandbox.load(requireBuilt(fixturePath('emit-input-repeatedly')), {
      limits: { eventBytes: 2 ** 31, maxEvents: 1000, timeoutMs: 60_000, fuel: 0 },
    });
    const input = Array.from({ length: 50_000 }, (_, i) => ({ i }));
    const r = await flood.run(input);
    expect(r.status).toBe('limit-exceeded');
    expect(r.message).toMatch(/heap/);
    expect(r.message).toMatch(new RegExp(`agent ${flood.id}\\b`));
    expect(sandbox.workerRestarts).toBe(1);
    const after = await healthy.run(null);
    expect(after.status).toBe('ok');
    expect(after.output).toEqual({ ok: true, n: 42 });
  }, 90_000);
});
