// The hibernation store's write path: reads see queued writes, and a failed write is held and retried, never dropped.
import { describe, expect, it } from 'vitest';
import { isSandboxError } from '../../runtime/errors.ts';
import { StateStore } from '../../runtime/hibernation/state-store.ts';

/** An in-memory stand-in for lmdb whose writes commit on the next turn, and fail while `failing` is set. */
class FlakyDatabase {
  readonly data = new Map<string, Uint8Array>();
  failing = false;
  getBinary(key: string) {
    return this.data.get(key);
  }
  put(key: string, value: Uint8Array): Promise<boolean> {
    return this.commit(() => void this.data.set(key, value));
  }
  remove(key: string): Promise<boolean> {
    return this.commit(() => void this.data.delete(key));
  }
  putSync(key: string, value: Uint8Array): boolean {
    this.data.set(key, value);
    return true;
  }
  getKeys() {
    return [...this.data.keys()];
  }
  getCount() {
    return this.data.size;
  }
  get flushed() {
    return new Promise<boolean>((resolve) => setImmediate(() => resolve(true)));
  }
  async close() {}
  private commit(apply: () => void): Promise<boolean> {
    const failing = this.failing;
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        if (failing) return reject(new Error('MDB_MAP_FULL: Environment mapsize limit reached'));
        apply();
        resolve(true);
      }),
    );
  }
}

describe('StateStore writes', () => {
  it('reads a write back before it commits, and from the database after', async () => {
    const db = new FlakyDatabase();
    const store = new StateStore(db, '/fake');
    const put = store.put('a', Uint8Array.of(1));
    expect(db.data.has('a')).toBe(false);
    expect(store.get('a')).toEqual(Uint8Array.of(1));
    await put;
    expect(db.data.get('a')).toEqual(Uint8Array.of(1));
    expect(store.get('a')).toEqual(Uint8Array.of(1));
  });

  it('holds a failed write where reads find it, says so when flushed, and commits it on retry', async () => {
    const db = new FlakyDatabase();
    const store = new StateStore(db, '/fake');
    db.data.set('a', Uint8Array.of(0)); // the state before
    db.failing = true;
    await expect(store.put('a', Uint8Array.of(7))).rejects.toThrow(/MDB_MAP_FULL/);
    expect(store.failedWrites).toBe(1);
    expect(store.get('a')).toEqual(Uint8Array.of(7)); // not the stale committed value
    const flushed = await store.flushed().catch((e: unknown) => e);
    expect(isSandboxError(flushed, 'SANDBOX_STORE')).toBe(true);
    expect((flushed as Error).message).toMatch(/1 agent state write/);
    expect(store.retryFailed()).toBe(1);
    await store.settled('a'); // the retry failed too: still held
    expect(store.failedWrites).toBe(1);
    db.failing = false;
    store.retryFailed();
    await store.settled('a');
    await store.flushed();
    expect(store.failedWrites).toBe(0);
    expect(db.data.get('a')).toEqual(Uint8Array.of(7));
  });
});
