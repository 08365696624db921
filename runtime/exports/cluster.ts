// Subpath `wasm-agent-sandbox/cluster`: cluster mode (docs/cluster.md) — partitions, owners, the fenced key-state store, a node, its message sources (NATS, Kafka), its status (needs @nats-io/transport-node, @nats-io/jetstream and @nats-io/kv; on Kafka also @platformatic/kafka).
export { ClusterNode, type ClusterNodeOptions, type Takeover } from '../cluster/node.ts';
export { resolveClusterConfig, bucketServers, type ClusterConfig } from '../cluster/config.ts';
export { natsSource, type ClusterSource, type NatsSourceOptions } from '../cluster/source.ts';
export {
  KafkaSource,
  kafkaSourceFor,
  kafkaClusterNames,
  MESSAGE_ID_HEADER,
  type KafkaSourceOptions,
} from '../cluster/kafka-source.ts';
export { rendezvousAssigner, RENDEZVOUS_PROTOCOL } from '../cluster/kafka-assignor.ts';
export { readKafkaPositions, type KafkaPartitionPosition } from '../cluster/kafka-positions.ts';
export { PartitionLost, type PartitionLog, type LogMessage, type LogReader } from '../cluster/partition-log.ts';
export { DEFAULT_PARTITIONS, fnv1a32, partitionOf, partitionSubject, PARTITION_TOKEN } from '../cluster/partitioner.ts';
export { ownerOf, assignment } from '../cluster/rendezvous.ts';
export { FencedWrite, KeyStateStore, type KeyState } from '../cluster/key-state.ts';
export { openBucket, type BucketOptions, type ClusterBucket } from '../cluster/bucket.ts';
export { readClusterStatus, formatClusterStatus, type ClusterStatus } from '../cluster/status.ts';
export type { ClusterCounts } from '../cluster/partition-consumer.ts';
