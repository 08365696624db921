// Where a cluster's partitions come from: which ones this node should run, where each starts, and its log — rendezvous hashing over the NATS stream's partitions, or a Kafka consumer group's assignment.
import { keys } from './bucket.ts';
import { NatsPartitionLog, type NatsLogOptions } from './nats-log.ts';
import type { PartitionLog } from './partition-log.ts';
import { ownerOf } from './rendezvous.ts';

export interface ClusterSource {
  readonly kind: 'nats' | 'kafka';
  /** Starts (Kafka: joins the consumer group); `changed` is called whenever the partitions this node wants may change. */
  start(changed: () => void): Promise<void>;
  /** Whether this node should run `partition` now (`live`: the members whose heartbeat is recent, sorted). */
  wants(partition: number, live: readonly string[]): boolean;
  /** The committed position of `partition`: its next owner reads the messages after it. */
  position(partition: number): Promise<number>;
  log(partition: number): PartitionLog;
  /** Called once this node's partitions are handed over or stopped (Kafka: leaves the group). */
  stop(): Promise<void>;
}

export interface NatsSourceOptions extends NatsLogOptions {
  node: string;
}

/** NATS: partitions are subjects of the queue's stream, owners are chosen by rendezvous hashing of live members. */
export function natsSource(o: NatsSourceOptions): ClusterSource {
  return {
    kind: 'nats',
    start: async () => {},
    wants: (partition, live) => ownerOf(partition, live) === o.node,
    position: async (partition) => {
      // From the leader: a replica's older position would only replay more, but a hand-over promises none.
      const entry = await o.bucket.leader.get(keys.position(partition));
      return entry !== null && entry.operation === 'PUT' ? Number(entry.string()) || 0 : 0;
    },
    log: (partition) => new NatsPartitionLog(o, partition),
    stop: async () => {},
  };
}
