// `sandbox cluster status <sandbox.yaml>`: a cluster's members, partitions, owners, epochs, positions and lag, read from its bucket.
import { resolve } from 'node:path';
import { openBucket } from '../cluster/bucket.ts';
import { resolveClusterConfig } from '../cluster/config.ts';
import { formatClusterStatus, readClusterStatus } from '../cluster/status.ts';
import { parseQueueUrl } from '../queue/index.ts';
import { loadTopology } from '../swarm/topology.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { EXIT_OK, type Command } from './io.ts';
import { reportError } from './publish.ts';

export const CLUSTER_HELP = `Usage: sandbox cluster status <sandbox.yaml> [--json]

Reads the cluster's key-value bucket (the topology's \`cluster:\` section names it, its
queue names the NATS servers) and prints its members (live when their last heartbeat
is younger than memberTimeoutMs), then per partition: owner, epoch (the owner key's
revision), committed position (stream sequence) and lag (messages its owner has not
received yet). See docs/cluster.md.

  --json                  print it as one JSON object

Exit codes: 0 printed, 1 NATS failed, 2 usage error or no \`cluster:\` section.`;

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
    if (queue.kind !== 'nats') throw new UsageError('cluster mode needs a nats:// queue');
    const servers = typeof queue.servers === 'string' ? queue.servers.split(',') : queue.servers;
    const b = await openBucket({
      servers,
      bucket: config.bucket,
      replicas: config.replicas,
      name: 'sandbox-cluster-status',
    });
    try {
      const status = await readClusterStatus(b, config);
      io.stdout.write(`${values.json === true ? JSON.stringify(status) : formatClusterStatus(status)}\n`);
    } finally {
      await b.nc.close();
    }
    return EXIT_OK;
  } catch (error) {
    return reportError('cluster', error, io, values.json === true);
  }
};
