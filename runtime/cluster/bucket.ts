// The cluster's key-value bucket on NATS JetStream: connects, opens (creating) it, and names its keys.
import type * as JetStreamModule from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type * as KvModule from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type * as TransportModule from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { SandboxError } from '../errors.ts';
import { importOptional } from '../queue/optional.ts';

/** Everything a cluster node talks to: its own connection, JetStream, and the bucket. */
export interface ClusterBucket {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv: KV;
  /** The same bucket read through the stream's leader (not a replica): for the questions a stale answer would mislead. */
  leader: KV;
  jetstream: typeof JetStreamModule;
  transport: typeof TransportModule;
  bucket: string;
}

export interface BucketOptions {
  servers: string[];
  bucket: string;
  /** Copies of the bucket in a NATS cluster (1 on a single server). */
  replicas: number;
  name: string;
  /**
   * Read from any replica (direct get: fast, may lag the leader) rather than the stream's leader (default true).
   * Nodes may read stale states safely (a write on a stale read is refused by the fence); a checker wants the
   * leader's view.
   */
  direct?: boolean;
  /** Values kept per key when this call creates the bucket (default 1: only the latest matters to the fence). */
  history?: number;
}

/** Key layout of the bucket (every part is made of characters a KV key allows). */
export const keys = {
  member: (node: string) => `members.${node}`,
  members: 'members.>',
  owner: (partition: number) => `owners.${partition}`,
  owners: 'owners.>',
  position: (partition: number) => `pos.${partition}`,
  /** A message key may hold any character: base64url keeps it to what a KV key allows. */
  state: (agent: string, key: string) => `state.${agent}.${Buffer.from(key, 'utf8').toString('base64url')}`,
  base: (moduleHash: string) => `base.${moduleHash}`,
} as const;

/** The JetStream error code of a write whose expected revision was not the key's last (the fence). */
export const WRONG_LAST_SEQUENCE = 10071;

/** Whether `error` is the server refusing a write because the key moved on since the revision the writer read. */
export function isFenced(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return e.code === WRONG_LAST_SEQUENCE || /wrong last sequence/i.test(String(e.message ?? ''));
}

/**
 * Writes `value` under `name` if the key is still at `revision` (0: absent). Returns the new revision, or undefined
 * when another writer moved the key first (the fence refused this one).
 */
export async function compareAndSet(
  kv: KV,
  name: string,
  value: Uint8Array | string,
  revision: number,
): Promise<number | undefined> {
  try {
    return revision === 0 ? await kv.create(name, value) : await kv.update(name, value, revision);
  } catch (error) {
    if (isFenced(error) || (revision === 0 && /exists/i.test(String(error)))) return undefined;
    throw error;
  }
}

export async function openBucket(options: BucketOptions): Promise<ClusterBucket> {
  const transport = await importOptional<typeof TransportModule>('@nats-io/transport-node', 'cluster mode');
  const jetstream = await importOptional<typeof JetStreamModule>('@nats-io/jetstream', 'cluster mode');
  const kvModule = await importOptional<typeof KvModule>('@nats-io/kv', 'cluster mode');
  let nc: NatsConnection;
  try {
    nc = await transport.connect({
      servers: options.servers,
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
  } catch (error) {
    throw new SandboxError(
      'SANDBOX_CONNECTION',
      `cluster: cannot connect to NATS at ${options.servers.join(',')}: ${String(error)}`,
      { cause: error },
    );
  }
  try {
    // A generous timeout: on a loaded machine a replicated write can take seconds, and a timed-out write that did
    // land costs a refused retry and a re-read.
    const js = jetstream.jetstream(nc, { timeout: 15_000 });
    const jsm = await jetstream.jetstreamManager(nc);
    // history 1: only the latest value of a key matters; the fence compares against its revision.
    const kv = await new kvModule.Kvm(js).create(options.bucket, {
      history: options.history ?? 1,
      replicas: options.replicas,
      ...(options.direct === false ? { allow_direct: false } : {}),
    });
    const leader = await new kvModule.Kvm(js).create(options.bucket, {
      history: options.history ?? 1,
      replicas: options.replicas,
      allow_direct: false,
    });
    return { nc, js, jsm, kv, leader, jetstream, transport, bucket: options.bucket };
  } catch (error) {
    await nc.close().catch(() => {});
    throw new SandboxError(
      'SANDBOX_CONNECTION',
      `cluster: cannot open the key-value bucket ${options.bucket}: ${String(error)}`,
      { cause: error },
    );
  }
}
