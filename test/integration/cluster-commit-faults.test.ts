// Faults injected into one partition's commit path on a real nats-server (a write that times out, a read or an ownership check that fails, as while a NATS node dies): no message of a key may be dropped while later ones are applied.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { openBucket, type ClusterBucket } from '../../runtime/cluster/bucket.ts';
import { NatsPartitionLog } from '../../runtime/cluster/nats-log.ts';
import { KeyStateStore, type KeyState } from '../../runtime/cluster/key-state.ts';
import {
  newClusterCounts,
  PartitionConsumer,
  type ClusterAgent,
  type ClusterCounts,
  type PartitionContext,
} from '../../runtime/cluster/partition-consumer.ts';
import { partitionSubject } from '../../runtime/cluster/partitioner.ts';
import { encode } from '../../runtime/codec.ts';
import { KEY_HEADER } from '../../runtime/queue/nats.ts';
import { Sandbox } from '../../runtime/sandbox.ts';
import { KeyedInstances } from '../../runtime/swarm/keyed-instances.ts';
import type { AgentSpec } from '../../runtime/swarm/topology.ts';
import { committedCounts } from '../support/cluster-counts.ts';
import { agentPath, requireBuilt } from '../support/paths.ts';
import { serviceSlot, stop, type ServiceInfo, type ServiceKind, type ServiceSlot } from '../support/services.ts';
import { sleep, waitFor } from '../support/wait-for.ts';

const provided = inject('queueServices') as Record<ServiceKind, ServiceSlot> | undefined;
const ownServers: ServiceInfo[] = [];
const slot = await serviceSlot('nats', provided, ownServers);
afterAll(async () => {
  await Promise.all(ownServers.map((info) => stop(info)));
});

/** A key-state store whose next reads or writes fail (as a request does while a NATS node dies and its streams elect leaders). */
class FaultyStates extends KeyStateStore {
  failReads = 0;
  /** Writes that fail without landing, and writes that land and then fail (the acknowledgement lost). */
  failWrites = 0;
  failAfterWrites = 0;
  faults = 0;
  /** While set, writes wait for it (and count in `held`), so that a key's next messages queue up into a batch. */
  gate: Promise<void> | undefined;
  held = 0;

  override async read(agent: string, key: string): Promise<KeyState> {
    if (this.failReads > 0) {
      this.failReads--;
      this.faults++;
      throw new Error('injected: read timed out');
    }
    return super.read(agent, key);
  }

  override async write(agent: string, key: string, image: Uint8Array, applied: number, revision: number) {
    if (this.gate !== undefined) {
      this.held++;
      await this.gate;
    }
    if (this.failWrites > 0) {
      this.failWrites--;
      this.faults++;
      throw new Error('injected: write timed out');
    }
    const next = await super.write(agent, key, image, applied, revision);
    if (this.failAfterWrites > 0) {
      this.failAfterWrites--;
      this.faults++;
      throw new Error('injected: the write landed, its acknowledgement timed out');
    }
    return next;
  }
}

interface Harness {
  b: ClusterBucket;
  states: FaultyStates;
  consumer: PartitionConsumer;
  logs: string[];
  counts: ClusterCounts;
  /** Publishes `{by}` for `key`; returns its stream sequence. */
  publish(key: string, by: number): Promise<number>;
  /** Waits until the key's committed state has applied `seq`. */
  applied(key: string, seq: number): Promise<void>;
  count(key: string): Promise<number>;
  stillOwnerFailures: number;
  keyed: KeyedInstances;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

const PREFIX = 'faults';

async function harness(): Promise<Harness> {
  const servers = [`${slot.info!.host}:${slot.info!.port}`];
  const name = `faults-${Date.now().toString(36)}-${cleanups.length}`;
  const b = await openBucket({ servers, bucket: name, replicas: 1, name: 'faults-test' });
  const stream = name.toUpperCase().replace(/-/g, '_');
  await b.jsm.streams.add({ name: stream, subjects: [`${PREFIX}.>`] });
  const dir = mkdtempSync(path.join(tmpdir(), 'sandbox-cluster-faults-'));
  const sandbox = new Sandbox({ workers: 1, hibernation: { store: dir } });
  const module = requireBuilt(agentPath('counter'));
  const spec: AgentSpec = {
    name: 'counter',
    module,
    limits: {},
    subscribe: ['count.>'],
    group: 'counter',
    concurrency: 1,
    instances: 'per-key',
    maxDeliveries: 5,
    backoffMs: 10,
  };
  const keyed = new KeyedInstances(
    sandbox,
    'counter',
    new Uint8Array(readFileSync(module)),
    {
      name: 'counter',
      limits: {},
      exportState: true,
    },
    64,
  );
  const agent: ClusterAgent = { spec, matches: (topic) => topic.startsWith('count.'), keyed };
  const states = new FaultyStates(b.kv);
  const logs: string[] = [];
  const counts: ClusterCounts = newClusterCounts();
  const h: Harness = {
    b,
    states,
    logs,
    counts,
    stillOwnerFailures: 0,
    keyed,
    consumer: undefined as unknown as PartitionConsumer,
    async publish(key, by) {
      const headers = b.transport.headers();
      headers.set(KEY_HEADER, key);
      const ack = await b.js.publish(partitionSubject(PREFIX, 0, 'count.inc'), encode({ by }), { headers });
      return ack.seq;
    },
    async applied(key, seq) {
      const reader = new KeyStateStore(b.leader);
      const deadline = Date.now() + 30_000;
      while ((await reader.read('counter', key)).applied < seq) {
        if (Date.now() > deadline) throw new Error(`${key} did not apply ${seq} within 30 s: ${logs.join('; ')}`);
        await sleep(20);
      }
    },
    async count(key) {
      const got = await committedCounts(servers, name, 'counter', new Uint8Array(readFileSync(module)), [key]);
      return got.get(key)!.count;
    },
  };
  const context: PartitionContext = {
    agents: [agent],
    states,
    leaderStates: new KeyStateStore(b.leader),
    sandbox,
    counts,
    stillOwner: async () => {
      if (h.stillOwnerFailures > 0) {
        h.stillOwnerFailures--;
        states.faults++;
        throw new Error('injected: the owner key could not be read');
      }
      return true;
    },
    checkBase: async () => {},
    log: (message) => logs.push(message),
  };
  const log = new NatsPartitionLog(
    { bucket: b, stream, prefix: PREFIX, partitions: 1, deadLetter: 'dead', log: (message) => logs.push(message) },
    0,
  );
  h.consumer = new PartitionConsumer(context, 0, 1, 0, log);
  cleanups.push(async () => {
    h.consumer.abort();
    keyed.close();
    await sandbox.close();
    await b.kv.destroy().catch(() => {});
    await b.jsm.streams.delete(stream).catch(() => {});
    await b.nc.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return h;
}

describe.skipIf(slot.missing !== undefined)('cluster commit path under faults (NATS)', () => {
  it('retries a key whose state cannot be read after a failed write, rather than dropping its message', async () => {
    const h = await harness();
    await h.consumer.start();
    const first = await h.publish('alice', 1);
    await h.applied('alice', first);
    // The next write times out, and so does the read that follows it (a NATS node died mid-commit).
    h.states.failWrites = 1;
    h.states.failReads = 1;
    await h.publish('alice', 2);
    await waitFor('both faults to fire', () => h.states.faults >= 2, 30_000, 10);
    const last = await h.publish('alice', 3);
    await h.applied('alice', last);
    expect(await h.count('alice')).toBe(1 + 2 + 3);
    await waitFor('the committed position to pass the last message', () => h.consumer.committed >= last, 30_000, 20);
  });

  it('retries a key whose write landed but whose acknowledgement was lost, then whose re-read failed', async () => {
    const h = await harness();
    await h.consumer.start();
    const first = await h.publish('bob', 1);
    await h.applied('bob', first);
    h.states.failAfterWrites = 1;
    h.states.failReads = 1;
    await h.publish('bob', 2);
    await waitFor('both faults to fire', () => h.states.faults >= 2, 30_000, 10);
    const last = await h.publish('bob', 3);
    await h.applied('bob', last);
    expect(await h.count('bob')).toBe(1 + 2 + 3);
    expect(h.counts.skipped).toBeGreaterThanOrEqual(1); // the landed write was found on the re-read
    await waitFor('the committed position to pass the last message', () => h.consumer.committed >= last, 30_000, 20);
  });

  it('retries a key whose ownership check failed after a refused write', async () => {
    const h = await harness();
    await h.consumer.start();
    const first = await h.publish('carol', 1);
    await h.applied('carol', first);
    // Another writer moves the key (a stale owner's last commit of the same message, say): our next write is refused,
    // and the question "do I still own the partition?" fails once.
    const other = new KeyStateStore(h.b.kv);
    const seen = await other.read('counter', 'carol');
    await other.write('counter', 'carol', seen.image!, seen.applied, seen.revision);
    h.stillOwnerFailures = 1;
    await h.publish('carol', 2);
    await waitFor('the ownership check to fail', () => h.states.faults >= 1, 30_000, 10);
    const last = await h.publish('carol', 3);
    await h.applied('carol', last);
    expect(h.counts.fenced).toBeGreaterThanOrEqual(1);
    expect(await h.count('carol')).toBe(1 + 2 + 3);
    await waitFor('the committed position to pass the last message', () => h.consumer.committed >= last, 30_000, 20);
  });

  it("re-reads a key whose resident instance was replaced behind the ownership's back", async () => {
    const h = await harness();
    await h.consumer.start();
    const first = await h.publish('dave', 1);
    await h.applied('dave', first);
    // An aborted consumer of the same partition on this node (its in-flight work ends after the next one started)
    // closes the key's instance and loads another, from a state it read earlier (here: the initial one).
    await h.keyed.evict('dave');
    await h.keyed.agent('dave', null);
    const last = await h.publish('dave', 2);
    await h.applied('dave', last);
    expect(await h.count('dave')).toBe(1 + 2);
  });

  it('redoes a batch whose instance was closed under it one message at a time, rather than dropping it', async () => {
    const h = await harness();
    await h.consumer.start();
    let open!: () => void;
    h.states.gate = new Promise<void>((resolve) => (open = resolve));
    await h.publish('erin', 1);
    await waitFor('the first write to wait', () => h.states.held === 1, 30_000, 10);
    // Two more queue up behind it (one batch); the instance is closed meanwhile (a sandbox closing it, say).
    await h.publish('erin', 2);
    await h.publish('erin', 3);
    await sleep(200);
    h.keyed.resident('erin')!.close();
    h.states.gate = undefined;
    open();
    const last = await h.publish('erin', 4);
    await h.applied('erin', last);
    expect(await h.count('erin')).toBe(1 + 2 + 3 + 4);
    await waitFor('the committed position to pass the last message', () => h.consumer.committed >= last, 30_000, 20);
  });
});
