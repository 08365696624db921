// A Kafka cluster's positions as the broker holds them: per partition of its topic, the group's committed offset and the high watermark (their difference is the lag).
import type * as KafkaModule from '@platformatic/kafka';
import { SandboxError } from '../errors.ts';
import { importOptional } from '../queue/optional.ts';

export interface KafkaPartitionPosition {
  partition: number;
  /** The group's committed offset: every record below it is done (0: nothing committed yet). */
  committed: number;
  /** The offset the next record written to the partition will get. */
  high: number;
}

/** Reads committed offsets and high watermarks of `topic` for the consumer group `groupId` (three admin requests). */
export async function readKafkaPositions(
  brokers: string[],
  topic: string,
  groupId: string,
): Promise<KafkaPartitionPosition[]> {
  const kafka = await importOptional<typeof KafkaModule>('@platformatic/kafka', 'cluster status on Kafka');
  const admin = new kafka.Admin({ clientId: 'sandbox-cluster-status', bootstrapBrokers: brokers, retries: 3 });
  try {
    const meta = await admin.metadata({ topics: [topic] });
    const count = meta.topics.get(topic)?.partitionsCount ?? 0;
    const partitionIndexes = Array.from({ length: count }, (_, i) => i);
    const [high, groups] = await Promise.all([
      admin.listOffsets({
        topics: [
          { name: topic, partitions: partitionIndexes.map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) },
        ],
      }),
      admin.listConsumerGroupOffsets({ groups: [{ groupId, topics: [{ name: topic, partitionIndexes }] }] }),
    ]);
    const committed = new Map<number, bigint>();
    for (const g of groups)
      for (const t of g.topics)
        if (t.name === topic) for (const p of t.partitions) committed.set(p.partitionIndex, p.committedOffset);
    const highs = new Map((high[0]?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]));
    return partitionIndexes.map((partition) => ({
      partition,
      committed: Math.max(0, Number(committed.get(partition) ?? 0n)),
      high: Number(highs.get(partition) ?? 0n),
    }));
  } catch (error) {
    throw new SandboxError('SANDBOX_CONNECTION', `cluster: cannot read Kafka offsets of ${topic}: ${String(error)}`, {
      cause: error,
    });
  } finally {
    await admin.close().catch(() => {});
  }
}
