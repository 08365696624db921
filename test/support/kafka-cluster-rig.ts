// A cluster-mode rig on Kafka for tests and bench/cluster.ts: `sandbox serve` nodes of one topology (a per-key counter on a Kafka topic, its states in a NATS bucket), a keyed publisher that remembers what each key should count.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readKafkaPositions, type KafkaPartitionPosition } from '../../runtime/cluster/kafka-positions.ts';
import { encode } from '../../runtime/codec.ts';
import { createQueue } from '../../runtime/queue/index.ts';
import type { QueueBackend } from '../../runtime/queue/types.ts';
import { committedCounts } from './cluster-counts.ts';
import { agentPath, requireBuilt } from './paths.ts';
import { sleep, startServe, type ServeProcess } from './serve-process.ts';

export interface KafkaClusterRigOptions {
  /** `kafka://host:port` of the broker. */
  kafka: string;
  /** `nats://host:port` of the server holding the bucket. */
  nats: string;
  partitions?: number;
  heartbeatMs?: number;
  memberTimeoutMs?: number;
}

export class KafkaClusterRig {
  readonly nodes = new Map<string, ServeProcess>();
  /** Per key: the sum published (what its counter must read). */
  readonly expected = new Map<string, number>();
  published = 0;
  /** The sandbox topic's first token, the bucket and the Kafka names (unique per rig: tests share the broker). */
  readonly token: string;
  readonly bucket: string;
  readonly partitions: number;

  private constructor(
    readonly options: KafkaClusterRigOptions,
    readonly dir: string,
    readonly queue: QueueBackend,
  ) {
    const tag = `${process.pid}${Date.now().toString(36)}`;
    this.token = `kc${tag}`;
    this.bucket = `kc-${tag}`;
    this.partitions = options.partitions ?? 8;
  }

  static async start(options: KafkaClusterRigOptions): Promise<KafkaClusterRig> {
    const brokers = options.kafka.slice('kafka://'.length).split(',');
    // Creates the topics it publishes to with the cluster's partitions (serve would make the same).
    const queue = await createQueue({ kind: 'kafka', brokers, partitions: options.partitions ?? 8 });
    return new KafkaClusterRig(options, mkdtempSync(join(tmpdir(), 'sandbox-kafka-cluster-rig-')), queue);
  }

  get kafkaTopic(): string {
    return `sandbox-${this.token}`;
  }

  get groupId(): string {
    return `sandbox-cluster-${this.bucket}`;
  }

  yamlOf(id: string): string {
    return join(this.dir, `${id}.yaml`);
  }

  startNode(id: string, args: string[] = []): ServeProcess {
    const file = this.yamlOf(id);
    writeFileSync(
      file,
      `queue: ${this.options.kafka}
deadLetter: dead${this.token}
hibernation:
  store: store-${id}
  maxResident: 4096
cluster:
  bucket: ${this.bucket}
  nats: ${this.options.nats}
  partitions: ${this.partitions}
  node: ${id}
  heartbeatMs: ${this.options.heartbeatMs ?? 300}
  memberTimeoutMs: ${this.options.memberTimeoutMs ?? 1500}
agents:
  - name: counter
    module: ${JSON.stringify(requireBuilt(agentPath('counter')))}
    subscribe: [${this.token}.>]
    instances: per-key
    backoffMs: 20
`,
    );
    const serve = startServe([file, ...args]);
    this.nodes.set(id, serve);
    return serve;
  }

  /** Publishes `n` keyed messages `{by}` (by = 1..3) round robin over `keys`, `batch` at a time. */
  async publish(n: number, keys: readonly string[], batch = 200, pauseMs = 0): Promise<void> {
    for (let i = 0; i < n; i += batch) {
      const messages = [];
      for (let j = i; j < Math.min(n, i + batch); j++) {
        const at = this.published + j - i;
        const key = keys[at % keys.length]!;
        const by = (at % 3) + 1;
        messages.push({ topic: `${this.token}.inc`, payload: encode({ by }), key });
        this.expected.set(key, (this.expected.get(key) ?? 0) + by);
      }
      await this.queue.publishMany(messages);
      this.published += messages.length;
      if (pauseMs > 0) await sleep(pauseMs);
    }
  }

  positions(): Promise<KafkaPartitionPosition[]> {
    return readKafkaPositions(this.options.kafka.slice('kafka://'.length).split(','), this.kafkaTopic, this.groupId);
  }

  /** Waits until the group has committed every record of every partition (lag 0), or throws after timeoutMs. */
  async settled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const positions = await this.positions();
      const lag = positions.reduce((sum, p) => sum + (p.high - p.committed), 0);
      const total = positions.reduce((sum, p) => sum + p.high, 0);
      if (lag === 0 && total >= this.published) return;
      if (Date.now() > deadline) {
        const tails = [...this.nodes].map(
          ([id, n]) => `--- ${id}:\n${n.output().stderr.split('\n').slice(-25).join('\n')}`,
        );
        throw new Error(
          `lag ${lag} of ${total} records after ${timeoutMs} ms: ${JSON.stringify(positions)}\n${tails.join('\n')}`,
        );
      }
      await sleep(250);
    }
  }

  /** Per key, the counter's committed count against the published sum. */
  async check(): Promise<{ lost: number; duplicated: number; wrongKeys: string[] }> {
    const keys = [...this.expected.keys()];
    const counts = await committedCounts(
      this.options.nats.slice('nats://'.length).split(','),
      this.bucket,
      'counter',
      new Uint8Array(readFileSync(requireBuilt(agentPath('counter')))),
      keys,
    );
    let lost = 0;
    let duplicated = 0;
    const wrongKeys: string[] = [];
    for (const key of keys) {
      const got = counts.get(key)!.count;
      const want = this.expected.get(key)!;
      if (got < want) lost += want - got;
      if (got > want) duplicated += got - want;
      if (got !== want) wrongKeys.push(`${key}: ${got} ≠ ${want} (applied ${counts.get(key)!.applied})`);
    }
    return { lost, duplicated, wrongKeys };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.stop('SIGKILL')));
    await this.queue.close().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}
