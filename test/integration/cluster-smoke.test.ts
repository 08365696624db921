// Cluster mode end to end: three `sandbox serve` nodes on a 3-node NATS cluster share per-key counters through a kill -9 and a SIGSTOP/SIGCONT; every key's count is exact.
import { afterAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../runtime/cluster/status.ts';
import { runCli } from '../support/cli.ts';
import { ClusterRig } from '../support/cluster-rig.ts';
import { sleep } from '../support/serve-process.ts';
import { skipReason } from '../support/services.ts';

const missing = skipReason('nats');
let rig: ClusterRig | undefined;
afterAll(async () => {
  await rig?.stop();
});

describe.skipIf(missing !== undefined)('cluster mode (NATS)', () => {
  it('keeps every key exact (0 lost, 0 applied twice) through kill -9 and SIGSTOP of serve nodes', async () => {
    rig = await ClusterRig.start({ natsNodes: 3, partitions: 16, heartbeatMs: 300, memberTimeoutMs: 1500 });
    const nodes = ['a', 'b', 'c'].map((id) => rig!.startNode(id));
    await Promise.all(nodes.map((n) => n.ready(60_000)));
    // `sandbox cluster status` sees the three members and every partition owned by a live one.
    const status = async (): Promise<ClusterStatus> => {
      const run = await runCli(['cluster', 'status', rig!.yamlOf('a'), '--json']);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as ClusterStatus;
    };
    const deadline = Date.now() + 20_000;
    let s = await status();
    while (s.members.filter((m) => m.live).length < 3 || s.owners.some((o) => !o.ownerLive)) {
      if (Date.now() > deadline) throw new Error(`cluster did not form: ${JSON.stringify(s)}`);
      await sleep(200);
      s = await status();
    }
    expect(s.owners.map((o) => o.partition)).toEqual(Array.from({ length: 16 }, (_, p) => p));
    expect(new Set(s.owners.map((o) => o.owner))).toEqual(new Set(['a', 'b', 'c']));
    const ownedByNoneOf = async (node: string): Promise<void> => {
      const until = Date.now() + 60_000;
      while ((await status()).owners.some((o) => o.owner === node)) {
        if (Date.now() > until) throw new Error(`node ${node} still owns partitions 60 s after it stopped`);
        await sleep(300);
      }
    };
    const keys = Array.from({ length: 300 }, (_, i) => `user-${i}`);

    await rig.publish(2000, keys, 200, 50);
    // A node dies mid-stream: its partitions move after the member timeout, from their committed positions.
    nodes[0]!.child.kill('SIGKILL');
    await rig.publish(2000, keys, 200, 50);
    await ownedByNoneOf('a');
    // A node freezes past the timeout and wakes up still believing it owns its partitions: the fence stops it. It
    // stays frozen until another node owns them all (not for a fixed time: under load that takes longer).
    nodes[1]!.child.kill('SIGSTOP');
    await rig.publish(1000, keys, 200, 50);
    await ownedByNoneOf('b');
    nodes[1]!.child.kill('SIGCONT');
    await rig.publish(1000, keys, 200, 50);

    await rig.settled(45_000);
    // Stop the survivors gracefully (drain, commit, release) before reading the states back.
    expect(await nodes[1]!.stop('SIGTERM')).toBe(0);
    expect(await nodes[2]!.stop('SIGTERM')).toBe(0);
    const { lost, duplicated, wrongKeys } = await rig.check();
    expect(wrongKeys.slice(0, 5)).toEqual([]);
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
    expect(rig.published).toBe(6000);
    // The frozen node woke up owning nothing it had: it saw its partitions taken at a newer epoch and dropped them.
    expect(nodes[1]!.output().stderr).toMatch(/lost partition \d+/);
    expect(nodes[2]!.output().stderr).toMatch(/took partition \d+/);
  }, 240_000);
});
