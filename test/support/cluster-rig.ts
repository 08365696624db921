// A cluster-mode rig for tests and bench/cluster.ts: a NATS (JetStream) cluster, `sandbox serve` nodes of one topology with a per-key counter, a keyed publisher that remembers what each key should count.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBucket, type ClusterBucket } from '../../runtime/cluster/bucket.ts';
import { KeyStateStore } from '../../runtime/cluster/key-state.ts';
import { partitionOf, partitionSubject } from '../../runtime/cluster/partitioner.ts';
import { decode, encode } from '../../runtime/codec.ts';
import { KEY_HEADER } from '../../runtime/queue/nats.ts';
import { committedCounts } from './cluster-counts.ts';
import { startNatsCluster, type NatsCluster } from './nats-cluster.ts';
import { agentPath, requireBuilt } from './paths.ts';
import { sleep, startServe, type ServeProcess } from './serve-process.ts';

export interface ClusterRigOptions {
  natsNodes: number;
  partitions?: number;
  heartbeatMs?: number;
  memberTimeoutMs?: number;
  /** The agent's module (default the counter); the check needs a counter. */
  module?: string;
  /** Values the bucket keeps per key (default 1; more lets a failing check show a key's history). */
  history?: number;
}

export const RIG_STREAM = 'SANDBOX';
export const RIG_PREFIX = 'sandbox';

export class ClusterRig {
  readonly nodes = new Map<string, ServeProcess>();
  /** Per key: the sum published (what its counter must read) and the stream sequence of its last message. */
  readonly expected = new Map<string, { sum: number; last: number }>();
  published = 0;
  private constructor(
    readonly nats: NatsCluster,
    readonly dir: string,
    readonly bucketName: string,
    readonly options: Required<ClusterRigOptions>,
    readonly client: ClusterBucket,
  ) {}

  static async start(options: ClusterRigOptions): Promise<ClusterRig> {
    const nats = await startNatsCluster(options.natsNodes);
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-cluster-rig-'));
    const bucketName = `rig-${process.pid}-${Date.now().toString(36)}`;
    try {
      const client = await withRetry(() =>
        openBucket({
          servers: servers(nats),
          bucket: bucketName,
          replicas: options.natsNodes,
          name: 'rig',
          direct: false,
          history: options.history ?? 1,
        }),
      );
      // The stream the nodes consume, made here with the cluster's replicas (serve would make it with the same).
      await withRetry(async () => {
        try {
          await client.jsm.streams.add({
            name: RIG_STREAM,
            subjects: [`${RIG_PREFIX}.>`],
            num_replicas: options.natsNodes,
          });
        } catch (error) {
          if (!/already in use|exists/i.test(String(error))) throw error;
        }
      });
      return new ClusterRig(
        nats,
        dir,
        bucketName,
        {
          partitions: 16,
          history: 1,
          heartbeatMs: 300,
          memberTimeoutMs: 1500,
          module: requireBuilt(agentPath('counter')),
          ...options,
        },
        client,
      );
    } catch (error) {
      await nats.stop();
      throw error;
    }
  }

  get url(): string {
    return this.nats.url;
  }

  /** The topology file of node `id` (written by startNode). */
  yamlOf(id: string): string {
    return join(this.dir, `${id}.yaml`);
  }

  /** Writes node `id`'s topology (its own local store) and starts `sandbox serve` on it. */
  startNode(id: string, args: string[] = []): ServeProcess {
    const file = this.yamlOf(id);
    writeFileSync(
      file,
      `queue: ${this.nats.url}
deadLetter: dead
hibernation:
  store: store-${id}
  maxResident: 4096
cluster:
  bucket: ${this.bucketName}
  partitions: ${this.options.partitions}
  node: ${id}
  replicas: ${this.options.natsNodes}
  heartbeatMs: ${this.options.heartbeatMs}
  memberTimeoutMs: ${this.options.memberTimeoutMs}
agents:
  - name: counter
    module: ${JSON.stringify(this.options.module)}
    subscribe: [count.>]
    instances: per-key
    backoffMs: 20
`,
    );
    const serve = startServe([file, ...args]);
    this.nodes.set(id, serve);
    return serve;
  }

  /**
   * Publishes `n` messages `{by}` over `keys` (round robin, by = 1..3) on the partition subjects, `batch` at a time,
   * recording each key's expected sum and last sequence. Retries a batch that fails (a server restarting).
   */
  async publish(n: number, keys: readonly string[], batch = 200, pauseMs = 0): Promise<void> {
    const { js, transport } = this.client;
    for (let i = 0; i < n; i += batch) {
      const acks = [];
      for (let j = i; j < Math.min(n, i + batch); j++) {
        const key = keys[(this.published + j - i) % keys.length]!;
        const by = ((this.published + j - i) % 3) + 1;
        const h = transport.headers();
        h.set(KEY_HEADER, key);
        const subject = partitionSubject(RIG_PREFIX, partitionOf(key, this.options.partitions), 'count.inc');
        const msgID = `rig:${this.published + j - i}`;
        acks.push(
          withRetry(() => js.publish(subject, encode({ by }), { headers: h, msgID })).then((ack) => ({ key, by, ack })),
        );
      }
      for (const { key, by, ack } of await Promise.all(acks)) {
        const e = this.expected.get(key) ?? { sum: 0, last: 0 };
        // Each message is in the stream once: a retry of one that had landed is dropped by its id (Nats-Msg-Id).
        e.sum += by;
        e.last = Math.max(e.last, ack.seq);
        this.expected.set(key, e);
      }
      this.published += acks.length;
      if (pauseMs > 0) await sleep(pauseMs);
    }
  }

  /** Keys whose committed state has not applied their last message yet. */
  async behind(): Promise<number> {
    const states = new KeyStateStore(this.client.kv);
    let behind = 0;
    for (const [key, e] of this.expected) {
      const s = await states.read('counter', key);
      if (s.applied < e.last) behind++;
    }
    return behind;
  }

  /** Whether every partition's committed position has reached its last published message (a cheap "all done"). */
  async positionsReached(): Promise<boolean> {
    const last = new Map<number, number>();
    for (const [key, e] of this.expected) {
      const p = partitionOf(key, this.options.partitions);
      last.set(p, Math.max(last.get(p) ?? 0, e.last));
    }
    for (const [p, seq] of last) {
      const entry = await this.client.kv.get(`pos.${p}`);
      if (entry === null || Number(entry.string()) < seq) return false;
    }
    return true;
  }

  /** Waits until every key has applied its last message (or throws after timeoutMs). */
  async settled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let behind = await this.behind();
    while (behind > 0) {
      if (Date.now() > deadline) throw new Error(`${behind} keys still behind after ${timeoutMs} ms`);
      await sleep(250);
      behind = await this.behind();
    }
  }

  /** Per key, the counter's committed count against the published sum: lost (below) and doubled (above) updates. */
  async check(): Promise<{ lost: number; duplicated: number; wrongKeys: string[] }> {
    const keys = [...this.expected.keys()];
    const counts = await committedCounts(
      servers(this.nats),
      this.bucketName,
      'counter',
      new Uint8Array(readFileSync(this.options.module)),
      keys,
    );
    let lost = 0;
    let duplicated = 0;
    const wrongKeys: string[] = [];
    for (const key of keys) {
      const { count: got, applied } = counts.get(key)!;
      const want = this.expected.get(key)!.sum;
      if (got < want) lost += want - got;
      if (got > want) duplicated += got - want;
      if (got !== want)
        wrongKeys.push(`${key}: ${got} ≠ ${want} (applied ${applied}, last ${this.expected.get(key)!.last})`);
    }
    if (wrongKeys.length > 0) {
      // Where did the difference go: count what the stream itself holds for the first few wrong keys.
      for (let i = 0; i < Math.min(3, wrongKeys.length); i++) {
        const key = wrongKeys[i]!.split(':')[0]!;
        wrongKeys[i] += `; the stream holds ${await this.streamSum(key)}`;
      }
    }
    return { lost, duplicated, wrongKeys };
  }

  /** The sum of `by` over the key's messages the stream holds now (and how many there are). */
  async streamSum(key: string): Promise<string> {
    const { js, jetstream } = this.client;
    const subject = partitionSubject(RIG_PREFIX, partitionOf(key, this.options.partitions), 'count.inc');
    const consumer = await js.consumers.get(RIG_STREAM, {
      filter_subjects: [subject],
      deliver_policy: jetstream.DeliverPolicy.All,
    });
    let sum = 0;
    let n = 0;
    const total = (await consumer.info()).num_pending;
    if (total === 0) return 'nothing';
    const batch = await consumer.fetch({ max_messages: total, expires: 10_000 });
    let seen = 0;
    for await (const m of batch) {
      seen++;
      if (m.headers?.get(KEY_HEADER) === key) {
        sum += (decode(m.data) as { by: number }).by;
        n++;
      }
      if (seen >= total) break;
    }
    return `${n} messages summing ${sum}`;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.stop('SIGKILL')));
    await this.client.nc.close().catch(() => {});
    await this.nats.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function servers(nats: NatsCluster): string[] {
  return nats.url.slice('nats://'.length).split(',');
}

/** Right after start (or a server's death) JetStream may refuse for a moment while it elects leaders. */
async function withRetry<T>(fn: () => Promise<T>, attempts = 40): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (i >= attempts) throw error;
      await sleep(250);
    }
  }
}
