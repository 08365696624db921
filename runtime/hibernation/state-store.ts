// The embedded store hibernated agents live in: LMDB through `lmdb` (memory-mapped reads, batched off-thread LZ4 writes).
//
// Every agent worker and the host thread open the same directory; LMDB is built for that. Keys are agents' state
// keys; values are state images (state-image.ts). One sandbox process owns a store at a time (a lock file says which).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../errors.ts';
import { importOptional } from '../queue/optional.ts';

/** The part of lmdb's database we use. */
interface LmdbDatabase {
  getBinary(key: string): Uint8Array | undefined;
  put(key: string, value: Uint8Array): Promise<boolean>;
  putSync(key: string, value: Uint8Array, options: { noOverwrite: boolean }): boolean;
  remove(key: string): Promise<boolean>;
  getKeys(options: { start: string; end: string }): Iterable<string>;
  getCount(): number;
  readonly flushed: Promise<boolean>;
  close(): Promise<void>;
}

/** Keys of agents loaded without one: they live only as long as their sandbox, under this prefix. */
export const ANONYMOUS_PREFIX = '~anon/';
/** Each module's base image (what states are stored against), by content hash. */
const BASE_PREFIX = '~base/';

export class StateStore {
  /**
   * Writes queued but not committed yet (null: a removal). lmdb commits in the background, so a read in the same
   * turn as a write would see the old value; reads look here first.
   */
  private readonly uncommitted = new Map<
    string,
    { value: Uint8Array | null; committed: Promise<boolean>; failed: boolean }
  >();

  /** @internal Use StateStore.open; tests hand in a database that fails. */
  constructor(
    private readonly db: LmdbDatabase,
    readonly path: string,
  ) {}

  /** Opens (creating) the store at `path`. Throws SandboxError SANDBOX_STORE when lmdb cannot open it. */
  static async open(path: string): Promise<StateStore> {
    // lmdb is an optional package (native, ~20 MB): only hibernation needs it.
    const lmdb = await importOptional<{ open(options: Record<string, unknown>): LmdbDatabase }>('lmdb', 'hibernation');
    try {
      mkdirSync(path, { recursive: true });
      // No LZ4: states are already only their differing bytes (a counter's is about 400 bytes), and lmdb's
      // compression call costs the writing thread more than the bytes it saves.
      const db = lmdb.open({ path: join(path, 'agents.mdb'), encoding: 'binary', compression: false });
      return new StateStore(db, path);
    } catch (error) {
      throw new SandboxError(
        'SANDBOX_STORE',
        `cannot open the hibernation store at ${path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  get(key: string): Uint8Array | undefined {
    const pending = this.uncommitted.get(key);
    if (pending !== undefined) return pending.value ?? undefined;
    return this.db.getBinary(key);
  }

  /** Queues the write; it commits with others in the background. The promise settles once it is committed. */
  put(key: string, state: Uint8Array): Promise<boolean> {
    return this.track(key, state, this.db.put(key, state));
  }

  remove(key: string): Promise<boolean> {
    return this.track(key, null, this.db.remove(key));
  }

  /** Resolves once the last write of `key` queued here is committed (visible to every thread and process). */
  async settled(key: string): Promise<void> {
    await this.uncommitted.get(key)?.committed.catch(() => false);
  }

  /** Writes that failed and are still held here (reads see them) until `retryFailed` gets them committed. */
  get failedWrites(): number {
    let n = 0;
    for (const entry of this.uncommitted.values()) if (entry.failed) n++;
    return n;
  }

  /** Queues every failed write again; returns how many. */
  retryFailed(): number {
    let n = 0;
    for (const [key, entry] of this.uncommitted) {
      if (!entry.failed) continue;
      n++;
      const { value } = entry;
      if (value === null) this.remove(key).catch(() => {});
      else this.put(key, value).catch(() => {});
    }
    return n;
  }

  /**
   * A failed write is not dropped: the value stays here, where reads find it, until a retry commits it. An agent
   * that was hibernated while the disk was full thus keeps its state in this process.
   */
  private track(key: string, value: Uint8Array | null, committed: Promise<boolean>): Promise<boolean> {
    const entry = { value, committed, failed: false };
    this.uncommitted.set(key, entry);
    committed.then(
      () => {
        if (this.uncommitted.get(key) === entry) this.uncommitted.delete(key);
      },
      () => {
        entry.failed = true;
      },
    );
    return committed;
  }

  /**
   * The base image of a module: the one stored, or `candidate` when none is (then stored). States must decode
   * against the bytes they were encoded with, and a module's initialisation may differ from process to process.
   */
  adoptBase(moduleHash: string, candidate: Uint8Array): Uint8Array {
    const key = `${BASE_PREFIX}${moduleHash}`;
    const stored = this.db.getBinary(key);
    if (stored !== undefined) return new Uint8Array(stored);
    if (this.db.putSync(key, candidate, { noOverwrite: true })) return candidate;
    return new Uint8Array(this.db.getBinary(key)!); // another worker stored its own first
  }

  /** The stored base image of a module, if any. */
  getBase(moduleHash: string): Uint8Array | undefined {
    const stored = this.db.getBinary(`${BASE_PREFIX}${moduleHash}`);
    return stored === undefined ? undefined : new Uint8Array(stored);
  }

  /** Replaces a module's base image (only before any worker adopted it: workers keep the one they read). */
  async setBase(moduleHash: string, base: Uint8Array): Promise<void> {
    await this.db.put(`${BASE_PREFIX}${moduleHash}`, base);
  }

  /** Removes every key starting with `prefix`. */
  async removePrefix(prefix: string): Promise<number> {
    const keys = [...this.db.getKeys({ start: prefix, end: `${prefix}\uffff` })];
    await Promise.all(keys.map((k) => this.db.remove(k)));
    return keys.length;
  }

  get count(): number {
    return this.db.getCount();
  }

  /** Resolves when every write queued so far is on disk; rejects naming how many writes failed and are still held. */
  async flushed(): Promise<void> {
    await this.db.flushed;
    await Promise.all([...this.uncommitted.values()].map((e) => e.committed.catch(() => false)));
    const failed = this.failedWrites;
    if (failed > 0)
      throw new SandboxError(
        'SANDBOX_STORE',
        `${failed} agent state write(s) to ${this.path} failed and are held in memory; see the worker's log for the store's error`,
      );
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/**
 * Claims the store for this process: a second live process on the same store would wake agents the first still
 * holds. A lock left by a process that is gone is taken over. Returns the release function.
 */
export function lockStore(path: string): () => void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (error) {
    throw new SandboxError(
      'SANDBOX_STORE',
      `cannot create the hibernation store directory ${path}: ${(error as Error).message}; give hibernation.store a directory this process can write`,
      { cause: error },
    );
  }
  const file = join(path, 'owner.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SandboxError(
          'SANDBOX_STORE',
          `cannot lock the hibernation store at ${path}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      const owner = Number(readFileSync(file, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new SandboxError(
          'SANDBOX_STORE_BUSY',
          `the hibernation store at ${path} is in use by process ${owner}; give each sandbox its own store directory`,
        );
      }
      if (owner === process.pid) {
        throw new SandboxError(
          'SANDBOX_STORE_BUSY',
          `the hibernation store at ${path} is already open in this process; close the other Sandbox first`,
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new SandboxError('SANDBOX_STORE', `cannot lock the hibernation store at ${path}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
