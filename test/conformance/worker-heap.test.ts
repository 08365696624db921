// A guest cannot make its worker (or, inline, the host) hold more log text than the heap it lives on can take: Node
// may abort the whole process when a worker reaches its heap limit (nodejs/node#47224), so limits that would allow
// it are refused at load, and the largest ones that fit keep the worker alive.
import { afterEach, describe, expect, it } from 'vitest';
import { Sandbox, SandboxError } from '../../runtime/index.ts';
import { fixturePath, requireBuilt } from '../support/paths.ts';

describe('log limits against the heap they live on', () => {
  let sandbox: Sandbox | undefined;
  afterEach(async () => {
    await sandbox?.close();
    sandbox = undefined;
  });

  it('refuses a load whose log limits could fill the worker heap, naming the limits and the fix', async () => {
    sandbox = new Sandbox({ workers: 1, workerHeapMb: 128 });
    const load = sandbox.load(requireBuilt(fixturePath('log-large-lines')), {
      limits: { maxLogs: 1_000_000, logBytes: 2 ** 31 },
    });
    await expect(load).rejects.toBeInstanceOf(SandboxError);
    await expect(load).rejects.toMatchObject({ code: 'SANDBOX_INVALID_OPTIONS' });
    await expect(load).rejects.toThrow(
      /log-large-lines: limits\.logBytes 2147483648 with maxLogs 1000000 .*workerHeapMb 128.*Lower logBytes or maxLogs, or raise workerHeapMb/,
    );
  });

  it('refuses such limits on the Sandbox itself, and inline against the host heap', () => {
    expect(() => new Sandbox({ workers: 1, workerHeapMb: 16, limits: { logBytes: 8 * 2 ** 20 } })).toThrow(
      /sandbox options: limits\.logBytes 8388608 .*workerHeapMb 16/,
    );
    expect(() => new Sandbox({ workers: 1, isolation: 'inline', limits: { logBytes: 2 ** 40 } })).toThrow(
      /of the .* host heap/,
    );
  });

  it('with the largest log limits that fit, a log flood is cut at logBytes and the worker lives on', async () => {
    sandbox = new Sandbox({ workers: 1, workerHeapMb: 128 });
    const healthy = await sandbox.load(requireBuilt(fixturePath('output-ok')));
    // 2 × 30 MiB of text + 64 B × 1,000 lines: just under half of the 128 MB heap.
    const flood = await sandbox.load(requireBuilt(fixturePath('log-large-lines')), {
      limits: { maxLogs: 1000, logBytes: 30 * 2 ** 20, timeoutMs: 60_000, fuel: 0 },
    });
    const flooded = await flood.run(null);
    expect(flooded.status).toBe('ok');
    expect(flooded.logs).toHaveLength(Math.floor((30 * 2 ** 20) / 60_000));
    expect(flooded.logsDropped).toBe(10_000 - flooded.logs.length);
    expect(sandbox.workerRestarts).toBe(0);
    expect(await healthy.run(null)).toMatchObject({ status: 'ok', output: { ok: true, n: 42 } });
  }, 120_000);
});
