// The `cluster:` section of sandbox.yaml: parsed with defaults filled in at start, and every bad field refused with its line.
import { describe, expect, it } from 'vitest';
import { resolveClusterConfig } from '../../runtime/cluster/config.ts';
import { parseTopology } from '../../runtime/swarm/topology.ts';

const file = (cluster: string, queue = 'nats://127.0.0.1:4222', instances = 'per-key') => `queue: ${queue}
hibernation:
  store: state
cluster:
${cluster}
agents:
  - name: counter
    module: counter.wasm
    subscribe: [count.>]
    instances: ${instances}
`;

function problems(text: string): string {
  try {
    parseTopology(text);
  } catch (error) {
    expect((error as { code?: string }).code).toBe('SANDBOX_INVALID_OPTIONS');
    return (error as Error).message;
  }
  throw new Error('parsed');
}

describe('topology cluster section', () => {
  it('keeps what the file says; a node fills in the rest', () => {
    const t = parseTopology(file('  bucket: orders\n  partitions: 64\n  node: node-a\n  replicas: 3'));
    expect(t.cluster).toEqual({ bucket: 'orders', partitions: 64, node: 'node-a', replicas: 3 });
    expect(resolveClusterConfig(t.cluster!, {})).toEqual({
      bucket: 'orders',
      partitions: 64,
      node: 'node-a',
      replicas: 3,
      heartbeatMs: 1000,
      memberTimeoutMs: 3000,
    });
    expect(resolveClusterConfig({}, { SANDBOX_NODE_ID: 'from-env' }).node).toBe('from-env');
    expect(resolveClusterConfig({}, {}).partitions).toBe(32);
  });

  it('refuses bad fields, naming them', () => {
    expect(problems(file('  partitions: 0'))).toMatch(/cluster\.partitions.*expected an integer ≥ 1/);
    expect(problems(file('  partitions: 5000'))).toMatch(/cluster\.partitions/);
    expect(problems(file('  node: "a b"'))).toMatch(/cluster\.node/);
    expect(problems(file('  heartbeatMs: 1000\n  memberTimeoutMs: 1500'))).toMatch(/cluster\.memberTimeoutMs/);
    expect(problems(file('  shards: 4'))).toMatch(/cluster\.shards.*unknown key/);
  });

  it('needs a NATS or Kafka queue and a per-key agent', () => {
    expect(problems(file('  partitions: 8', 'memory'))).toMatch(/needs a nats:\/\/ or kafka:\/\/ queue/);
    expect(problems(file('  partitions: 8', 'nats://127.0.0.1:4222', 'fixed'))).toMatch(
      /no agent has `instances: per-key`/,
    );
  });

  it('on Kafka, needs the NATS servers of the bucket and one Kafka topic for the per-key agents', () => {
    const kafka = 'kafka://127.0.0.1:9092';
    expect(problems(file('  partitions: 8', kafka))).toMatch(/cluster\.nats must name the NATS servers/);
    const t = parseTopology(file('  partitions: 8\n  nats: nats://10.0.0.1:4222,10.0.0.2:4222', kafka));
    expect(t.cluster).toEqual({ partitions: 8, nats: 'nats://10.0.0.1:4222,10.0.0.2:4222' });
    expect(problems(file('  nats: http://x:1', kafka))).toMatch(/cluster\.nats: expected nats:\/\/host:port/);
    const twoTopics = file('  nats: nats://127.0.0.1:4222', kafka).replace('[count.>]', '[count.>, orders.placed]');
    expect(problems(twoTopics)).toMatch(/must all read one Kafka topic.*count, orders/);
  });
});
