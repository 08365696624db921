// Cluster mode on Kafka, graceful moves: a node joining the consumer group and one leaving it (SIGTERM) hand their partitions over drained and committed, so nothing is replayed and every key is exact.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaClusterRig } from '../support/kafka-cluster-rig.ts';
import { stderrTail as tail } from '../support/serve-process.ts';
import { serviceSlot, skipReason, type ServiceInfo, type ServiceSlot, stop } from '../support/services.ts';
import { waitFor } from '../support/wait-for.ts';

const provided = inject('queueServices') as { nats: ServiceSlot; kafka: ServiceSlot } | undefined;
const ownServers: ServiceInfo[] = [];
const missing = skipReason('kafka') ?? skipReason('nats');
let rig: KafkaClusterRig | undefined;
afterAll(async () => {
  await rig?.stop();
  await Promise.all(ownServers.map((info) => stop(info)));
});

/** The `cluster` object of serve's --json summary (printed when it stops). */
function clusterSummary(stdout: string): { applied: number; skipped: number; takeovers: number } {
  const line = stdout.trim().split('\n').at(-1)!;
  return (JSON.parse(line) as { cluster: { applied: number; skipped: number; takeovers: number } }).cluster;
}

describe.skipIf(missing !== undefined)('cluster hand-over (Kafka)', () => {
  it('hands partitions over on join and on SIGTERM without replaying a message', async () => {
    const kafka = await serviceSlot('kafka', provided, ownServers);
    const nats = await serviceSlot('nats', provided, ownServers);
    if (kafka.info === undefined || nats.info === undefined) throw new Error(kafka.missing ?? nats.missing);
    // A long member timeout: on a loaded machine a late heartbeat must not pass for a death (which replays).
    rig = await KafkaClusterRig.start({
      kafka: kafka.info.url,
      nats: nats.info.url,
      partitions: 8,
      heartbeatMs: 500,
      memberTimeoutMs: 10_000,
    });
    const keys = Array.from({ length: 200 }, (_, i) => `k-${i}`);
    const a = rig.startNode('a', ['--json']);
    const b = rig.startNode('b', ['--json']);
    await Promise.all([a.ready(60_000), b.ready(60_000)]);
    await rig.publish(1000, keys, 100, 20);
    await rig.settled(45_000);
    // A third node joins while messages flow: the group moves some partitions to it; their owners drain, commit and
    // release them first.
    const c = rig.startNode('c', ['--json']);
    const publishing = rig.publish(1000, keys, 100, 50);
    // Awaited below; a failure elsewhere first must not leave its rejection unhandled.
    publishing.catch(() => {});
    await waitFor('the joining node to take a partition', () => /took partition \d+/.test(c.output().stderr), 45_000);
    await publishing;
    await rig.settled(45_000);
    // One leaves gracefully while messages flow.
    const leaving = b.stop('SIGTERM', 45_000);
    await rig.publish(1000, keys, 100, 50);
    expect(await leaving, tail(b)).toBe(0);
    await rig.settled(45_000);
    expect(await a.stop('SIGTERM', 45_000), tail(a)).toBe(0);
    expect(await c.stop('SIGTERM', 45_000), tail(c)).toBe(0);

    const { lost, duplicated, wrongKeys } = await rig.check();
    expect(wrongKeys.slice(0, 5)).toEqual([]);
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
    const summaries = [a, b, c].map((n) => clusterSummary(n.output().stdout));
    // Nothing was read twice: every hand-over started from the previous owner's last commit.
    expect(summaries.map((s) => s.skipped)).toEqual([0, 0, 0]);
    expect(summaries.reduce((sum, s) => sum + s.applied, 0)).toBe(3000);
    expect(summaries[2]!.takeovers).toBeGreaterThan(0);
  }, 240_000);
});
