// The `cluster:` section of sandbox.yaml: bucket (and, beside a Kafka queue, the NATS servers holding it), partitions, node id, replicas and timeouts, with their defaults.
import { hostname } from 'node:os';
import { SandboxError } from '../errors.ts';
import { checkPartitions, DEFAULT_PARTITIONS } from './partitioner.ts';

export interface ClusterConfig {
  /** The JetStream key-value bucket holding members, owners, positions and key states (default `sandbox-cluster`). */
  bucket: string;
  /** Partitions keys are hashed into; fixed for the deployment's life (default 32). */
  partitions: number;
  /** This node's id, unique in the cluster (default `<hostname>-<pid>`; SANDBOX_NODE_ID overrides the file). */
  node: string;
  /** Copies of the bucket (and of the queue's stream) in the NATS cluster (default 1). */
  replicas: number;
  /** How often a node writes its heartbeat (default 1000 ms). */
  heartbeatMs: number;
  /** A node without a heartbeat this long is gone and loses its partitions (default 3000 ms). */
  memberTimeoutMs: number;
  /**
   * `nats://host:port[,host:port]`: the NATS servers of the bucket. Required with a `kafka://` queue (Kafka carries
   * the messages, JetStream the fenced key states); with a `nats://` queue the bucket is on the queue's servers.
   */
  nats?: string;
}

export const CLUSTER_KEYS = [
  'bucket',
  'partitions',
  'node',
  'replicas',
  'heartbeatMs',
  'memberTimeoutMs',
  'nats',
] as const;
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A `cluster:` section with every default filled in; throws SANDBOX_INVALID_OPTIONS naming the bad field. */
export function resolveClusterConfig(
  given: Partial<ClusterConfig>,
  env: NodeJS.ProcessEnv = process.env,
): ClusterConfig {
  const node =
    env.SANDBOX_NODE_ID ??
    given.node ??
    `${hostname()
      .replace(/[^A-Za-z0-9_-]/g, '-')
      .slice(0, 40)}-${process.pid}`;
  const config: ClusterConfig = {
    bucket: given.bucket ?? 'sandbox-cluster',
    partitions: given.partitions ?? DEFAULT_PARTITIONS,
    node,
    replicas: given.replicas ?? 1,
    heartbeatMs: given.heartbeatMs ?? 1000,
    memberTimeoutMs: given.memberTimeoutMs ?? 3000,
    ...(given.nats !== undefined ? { nats: given.nats } : {}),
  };
  const bad = (field: string, why: string) => new SandboxError('SANDBOX_INVALID_OPTIONS', `cluster.${field}: ${why}`);
  if (!NAME.test(config.bucket))
    throw bad('bucket', `expected 1 to 64 letters, digits, _ or -, got ${JSON.stringify(config.bucket)}`);
  if (!NAME.test(config.node))
    throw bad('node', `expected 1 to 64 letters, digits, _ or -, got ${JSON.stringify(config.node)}`);
  try {
    checkPartitions(config.partitions);
  } catch (error) {
    throw bad('partitions', (error as Error).message);
  }
  if (!Number.isInteger(config.replicas) || config.replicas < 1 || config.replicas > 5)
    throw bad('replicas', `expected 1 to 5, got ${String(config.replicas)}`);
  if (!Number.isInteger(config.heartbeatMs) || config.heartbeatMs < 10)
    throw bad('heartbeatMs', `expected an integer ≥ 10, got ${String(config.heartbeatMs)}`);
  if (!Number.isInteger(config.memberTimeoutMs) || config.memberTimeoutMs < 2 * config.heartbeatMs)
    throw bad(
      'memberTimeoutMs',
      `expected an integer ≥ 2 × heartbeatMs (${2 * config.heartbeatMs}), got ${String(config.memberTimeoutMs)}`,
    );
  if (config.nats !== undefined && !/^nats:\/\/[^\s/:,]+:\d{1,5}(,[^\s/:,]+:\d{1,5})*\/?$/.test(config.nats))
    throw bad('nats', `expected nats://host:port[,host:port], got ${JSON.stringify(config.nats)}`);
  return config;
}

/** The NATS servers (`host:port`) of the cluster's bucket: `cluster.nats`, else the queue's own NATS servers. */
export function bucketServers(config: ClusterConfig, queue: string): string[] {
  const url = config.nats ?? (queue.startsWith('nats://') ? queue : undefined);
  if (url === undefined) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      'cluster.nats: a Kafka cluster keeps its key states in a NATS JetStream bucket; give its servers (nats://host:port)',
    );
  }
  return url
    .slice('nats://'.length)
    .replace(/\/+$/, '')
    .split(',')
    .filter((s) => s.length > 0);
}
