// `sandbox cluster status <sandbox.yaml>`: a cluster's members, partitions, owners, epochs, positions and lag, read from its bucket.
import { resolve } from 'node:path';
import { openBucket } from '../cluster/bucket.ts';
import { bucketServers, resolveClusterConfig } from '../cluster/config.ts';
import { formatClusterStatus, readClusterStatus } from '../cluster/status.ts';
import { parseQueueUrl } from '../queue/index.ts';
import { loadTopology } from '../swarm/topology.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { EXIT_OK, type Command } from './io.ts';
import { reportError } from './publish.ts';

export const CLUSTER_HELP = `Usage: sandbox cluster status <sandbox.yaml> [--json]

Reads the cluster's key-value bucket (the topology's \`cluster:\` section names it, and
its NATS servers: cluster.nats, else the nats:// queue) and prints its members (live when
their last heartbeat is younger than memberTimeoutMs), then per partition: owner, epoch
(the owner key's revision), committed position and lag. On NATS the position is a stream
sequence and the lag the messages its owner has not received yet; on a kafka:// queue the
partitions are the Kafka topic's, the position is the consumer group's committed offset
and the lag the records past it. See docs/cluster.md.

  --json                  print it as one JSON object

Exit codes: 0 printed, 1 NATS or Kafka failed, 2 usage error or no \`cluster:\` section.`;

export const cluster: Command = async (argv, io) => {
  const parsed = parseCommandArgs('cluster', argv, { json: { type: 'boolean' } }, CLUSTER_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  try {
    if (positionals[0] !== 'status') throw new UsageError('expected `sandbox cluster status <sandbox.yaml>`');
    if (positionals.length !== 2) throw new UsageError('which topology? give the path of a sandbox.yaml');
    const topology = await loadTopology(resolve(io.cwd, positionals[1]!));
    if (topology.cluster === undefined) throw new UsageError(`${positionals[1]} has no \`cluster:\` section`);
    const config = resolveClusterConfig(topology.cluster);
    const queue = parseQueueUrl(topology.queue);
    const servers = bucketServers(config, topology.queue);
    let kafka: Parameters<typeof readClusterStatus>[3];
    if (queue.kind === 'kafka') {
      const { kafkaClusterNames } = await import('../cluster/kafka-source.ts');
      const { readKafkaPositions } = await import('../cluster/kafka-positions.ts');
      const { topic, groupId } = kafkaClusterNames(config, topology.agents);
      const brokers = typeof queue.brokers === 'string' ? queue.brokers.split(',') : queue.brokers;
      kafka = { topic, positions: await readKafkaPositions(brokers, topic, groupId) };
    }
    const b = await openBucket({
      servers,
      bucket: config.bucket,
      replicas: config.replicas,
      name: 'sandbox-cluster-status',
    });
    try {
      const status = await readClusterStatus(b, config, Date.now(), kafka);
      io.stdout.write(`${values.json === true ? JSON.stringify(status) : formatClusterStatus(status)}\n`);
    } finally {
      await b.nc.close();
    }
    return EXIT_OK;
  } catch (error) {
    return reportError('cluster', error, io, values.json === true);
  }
};
