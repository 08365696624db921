// Cluster mode's graceful hand-over: a node joining and one leaving (SIGTERM) move partitions with nothing replayed and every key exact.
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterRig } from '../support/cluster-rig.ts';
import { skipReason } from '../support/services.ts';
import { waitFor } from '../support/wait-for.ts';

const missing = skipReason('nats');
let rig: ClusterRig | undefined;
afterAll(async () => {
  await rig?.stop();
});

/** The `cluster` object of serve's --json summary (printed when it stops). */
function clusterSummary(stdout: string): { applied: number; skipped: number; takeovers: number } {
  const line = stdout.trim().split('\n').at(-1)!;
  return (JSON.parse(line) as { cluster: { applied: number; skipped: number; takeovers: number } }).cluster;
}

describe.skipIf(missing !== undefined)('cluster hand-over (NATS)', () => {
  it('hands partitions over on join and on SIGTERM without replaying a message', async () => {
    rig = await ClusterRig.start({ natsNodes: 3, partitions: 16, heartbeatMs: 500, memberTimeoutMs: 5000 });
    const keys = Array.from({ length: 200 }, (_, i) => `k-${i}`);
    const a = rig.startNode('a', ['--json']);
    const b = rig.startNode('b', ['--json']);
    await Promise.all([a.ready(60_000), b.ready(60_000)]);
    await rig.publish(1000, keys, 200, 20);
    await rig.settled(30_000);
    // A third node joins while messages flow: some partitions move to it, gracefully.
    const c = rig.startNode('c', ['--json']);
    const publishing = rig.publish(1000, keys, 100, 30);
    await c.ready(60_000);
    // Ready is not owning: the partitions reach c only once their owners have drained and released them.
    await waitFor('c to take a partition', () => /took partition/.test(c.output().stderr), 60_000, 50);
    await publishing;
    await rig.settled(30_000);
    // It leaves again (SIGTERM): it drains, commits and releases; the others take over at once.
    const leaving = c.stop('SIGTERM', 45_000);
    await rig.publish(600, keys, 100, 30);
    expect(await leaving).toBe(0);
    await rig.settled(30_000);
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(await b.stop('SIGTERM')).toBe(0);
    const summaries = [a, b, c].map((n) => clusterSummary(n.output().stdout));
    expect(summaries[2]!.takeovers).toBeGreaterThan(0);
    // Replays come only from a failover (a node that looked dead: a heartbeat late past the timeout on a loaded
    // machine); a hand-over starts the next owner right after the last committed message.
    const failovers = [a, b, c].filter((n) => /lost partition/.test(n.output().stderr)).length;
    if (failovers === 0) expect(summaries.map((s) => s.skipped)).toEqual([0, 0, 0]);
    expect(summaries.reduce((n, s) => n + s.applied, 0)).toBeGreaterThanOrEqual(2600 - 200); // batches count each message
    const { lost, duplicated, wrongKeys } = await rig.check();
    expect(wrongKeys.slice(0, 5)).toEqual([]);
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
  }, 120_000);
});
