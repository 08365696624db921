// A guest that makes its worker hold too much host memory loses that worker only, and its run says so.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.ts';

describe('worker heap limit (resourceLimits)', () => {
  it('ends the run limit-exceeded, naming the run, and keeps serving other agents', () => {
    // In a child process: were the worker's heap limit not to hold, the abort fails this test, not the test runner.
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'test', 'support', 'worker-heap-child.ts')],
      { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 },
    );
    expect(child.error, 'the child did not finish in 120 s').toBeUndefined();
    expect(child.signal, `the process was killed by ${child.signal}: ${child.stderr}`).toBeNull();
    expect(child.status, `the process exited ${child.status} (an abort is 134): ${child.stderr}`).toBe(0);
    const r = JSON.parse(child.stdout.trim()) as {
      flood: { status: string; message: string };
      floodId: string;
      workerRestarts: number;
      after: { status: string; output: unknown };
    };
    expect(r.flood.status).toBe('limit-exceeded');
    expect(r.flood.message).toMatch(/heap/);
    expect(r.flood.message).toMatch(new RegExp(`agent ${r.floodId}\\b`));
    expect(r.workerRestarts).toBe(1);
    expect(r.after).toEqual({ status: 'ok', output: { ok: true, n: 42 } });
  }, 150_000);
});
