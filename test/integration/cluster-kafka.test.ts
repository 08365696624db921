// Cluster mode on Kafka end to end: three `sandbox serve` nodes in one consumer group share per-key counters (states in a NATS bucket) through a kill -9; every key's count is exact, and keyed records sit where Java's partitioner puts them.
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { ClusterStatus } from '../../runtime/cluster/status.ts';
import { kafkaPartitionOf } from '../../runtime/queue/murmur2.ts';
import { runCli } from '../support/cli.ts';
import { KafkaClusterRig } from '../support/kafka-cluster-rig.ts';
import { sleep, stderrTail as tail } from '../support/serve-process.ts';
import { serviceSlot, skipReason, type ServiceInfo, type ServiceSlot, stop } from '../support/services.ts';

const provided = inject('queueServices') as { nats: ServiceSlot; kafka: ServiceSlot } | undefined;
const ownServers: ServiceInfo[] = [];
const missing = skipReason('kafka') ?? skipReason('nats');
let rig: KafkaClusterRig | undefined;
afterAll(async () => {
  await rig?.stop();
  await Promise.all(ownServers.map((info) => stop(info)));
});

describe.skipIf(missing !== undefined)('cluster mode (Kafka)', () => {
  it('keeps every key exact (0 lost, 0 applied twice) through a kill -9 of a serve node', async () => {
    const kafka = await serviceSlot('kafka', provided, ownServers);
    const nats = await serviceSlot('nats', provided, ownServers);
    if (kafka.info === undefined || nats.info === undefined) throw new Error(kafka.missing ?? nats.missing);
    const partitions = 8;
    rig = await KafkaClusterRig.start({ kafka: kafka.info.url, nats: nats.info.url, partitions });
    const nodes = ['a', 'b', 'c'].map((id) => rig!.startNode(id, ['--json']));
    await Promise.all(nodes.map((n) => n.ready(60_000)));
    // `sandbox cluster status` sees the three members and every partition owned by a live one.
    const status = async (): Promise<ClusterStatus> => {
      const run = await runCli(['cluster', 'status', rig!.yamlOf('a'), '--json']);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as ClusterStatus;
    };
    const deadline = Date.now() + 45_000;
    let s = await status();
    while (s.members.filter((m) => m.live).length < 3 || s.owners.some((o) => !o.ownerLive)) {
      if (Date.now() > deadline) throw new Error(`cluster did not form: ${JSON.stringify(s)}`);
      await sleep(250);
      s = await status();
    }
    expect(s.source).toEqual({ kafka: rig.kafkaTopic });
    expect(new Set(s.owners.map((o) => o.owner))).toEqual(new Set(['a', 'b', 'c']));

    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    await rig.publish(1000, keys, 100, 20);
    // Every node is at work once every partition has committed something (a node's first runs load the module).
    const working = Date.now() + 45_000;
    while ((await rig.positions()).some((p) => p.committed === 0)) {
      if (Date.now() > working)
        throw new Error(`a partition committed nothing: ${JSON.stringify(await rig.positions())}`);
      await sleep(100);
    }
    // A node dies mid-stream, with runs in flight and applied messages not committed yet: the group drops it after
    // its session timeout, the others take its partitions from their committed offsets, and the replays are skipped
    // by the keys' applied positions.
    const publishing = rig.publish(2000, keys, 500, 100);
    // Awaited below; a failure elsewhere first must not leave its rejection unhandled.
    publishing.catch(() => {});
    while (rig.published < 1500) await sleep(10);
    await sleep(150);
    nodes[0]!.child.kill('SIGKILL');
    await publishing;
    await rig.settled(60_000);
    expect(await nodes[1]!.stop('SIGTERM'), tail(nodes[1]!)).toBe(0);
    expect(await nodes[2]!.stop('SIGTERM'), tail(nodes[2]!)).toBe(0);

    const { lost, duplicated, wrongKeys } = await rig.check();
    expect(wrongKeys.slice(0, 5)).toEqual([]);
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
    expect(rig.published).toBe(3000);
    // The survivors took the dead node's partitions.
    expect(nodes[1]!.output().stderr + nodes[2]!.output().stderr).toMatch(/took partition \d+/);
    // Every keyed record is in the partition Java's default partitioner gives its key.
    const perPartition = new Array<number>(partitions).fill(0);
    for (let i = 0; i < rig.published; i++) perPartition[kafkaPartitionOf(keys[i % keys.length]!, partitions)]!++;
    expect((await rig.positions()).map((p) => p.high)).toEqual(perPartition);
  }, 150_000);
});
