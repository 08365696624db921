// Per-key agent state in the cluster's bucket: the state image and the last applied message's stream sequence, every write a compare-and-set on the key's revision.
import { decode, encode } from '../codec.ts';
import { SandboxError } from '../errors.ts';
import type { KV } from '@nats-io/kv';
import { compareAndSet, keys } from './bucket.ts';

/** What the bucket holds for one agent's key. */
export interface KeyState {
  /** The state image (runtime/hibernation/state-image.ts); undefined when the key has never been written. */
  image: Uint8Array | undefined;
  /** Stream sequence of the last message applied to this state (0: none). Replays at or below it are skipped. */
  applied: number;
  /** The entry's revision (0: none): the fence the next write names. */
  revision: number;
}

/** A write refused because the key was written by someone else since `revision` was read (a stale owner). */
export class FencedWrite extends SandboxError {
  constructor(what: string) {
    super('SANDBOX_CLUSTER_FENCED', `${what}: refused, the key was written by another owner since it was read`);
  }
}

export class KeyStateStore {
  constructor(private readonly kv: KV) {}

  async read(agent: string, key: string): Promise<KeyState> {
    const entry = await this.kv.get(keys.state(agent, key));
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0)
      return { image: undefined, applied: 0, revision: entry?.revision ?? 0 };
    const value = decode(entry.value) as { a?: unknown; s?: unknown };
    if (typeof value.a !== 'number' || !(value.s instanceof Uint8Array)) {
      throw new SandboxError(
        'SANDBOX_STATE_CORRUPT',
        `cluster: the stored state of ${agent}/${JSON.stringify(key)} (revision ${entry.revision}) is not {a, s}`,
      );
    }
    // A plain Uint8Array (the decoder hands out Buffers), so it compares and transfers like any other image.
    return { image: new Uint8Array(value.s), applied: value.a, revision: entry.revision };
  }

  /**
   * Writes the state after applying the message at `applied`, if the key is still at `revision` (0: absent).
   * Returns the new revision; throws FencedWrite when another writer got there first.
   */
  async write(agent: string, key: string, image: Uint8Array, applied: number, revision: number): Promise<number> {
    const next = await compareAndSet(this.kv, keys.state(agent, key), encode({ a: applied, s: image }), revision);
    if (next === undefined) throw new FencedWrite(`state of ${agent}/${JSON.stringify(key)} at revision ${revision}`);
    return next;
  }
}
