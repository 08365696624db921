// Partition ownership: each partition's owner key in the bucket; its revision is the owner's epoch, and taking or giving up a partition is a compare-and-set on it.
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { compareAndSet, keys } from './bucket.ts';
import { KeptWatch } from './watch.ts';

export interface OwnerRecord {
  /** The owning node, or '' once released. */
  node: string;
  /** The key's revision: the owner's epoch. */
  epoch: number;
}

export class Ownership {
  private readonly owners = new Map<number, OwnerRecord>();
  /** Per partition, the newest owner revision the watch delivered (the leader's answer is compared with it). */
  private readonly delivered = new Map<number, number>();
  /** Per partition, since when the leader has had a newer owner record than the watch delivered. */
  private readonly missing = new Map<number, number>();
  private watcher: KeptWatch | undefined;

  constructor(
    private readonly kv: KV,
    /** The bucket through its leader: `refresh` must not see an older owner than the truth. */
    private readonly leader: KV,
    private readonly node: string,
    private readonly changed: (partition: number) => void,
    private readonly log: (message: string) => void,
  ) {}

  /** Opens the watch; waits up to `initialWithinMs` for the owner keys' last values (there may be none yet). */
  async start(initialWithinMs?: number): Promise<void> {
    this.watcher = new KeptWatch(this.kv, keys.owners, (entry) => this.seen(entry), this.log, 'ownership');
    await this.watcher.start(initialWithinMs);
  }

  private seen(entry: KvWatchEntry): void {
    const partition = Number(entry.key.slice('owners.'.length));
    if (!Number.isInteger(partition)) return;
    this.delivered.set(partition, Math.max(this.delivered.get(partition) ?? 0, entry.revision));
    const previous = this.owners.get(partition);
    if (previous !== undefined && previous.epoch >= entry.revision) return; // an older value than one we wrote
    const node = entry.operation === 'PUT' ? entry.string() : '';
    this.owners.set(partition, { node, epoch: entry.revision });
    this.changed(partition);
  }

  /** The partition's owner as last seen (undefined: never owned). */
  current(partition: number): OwnerRecord | undefined {
    return this.owners.get(partition);
  }

  /**
   * Takes the partition if its owner key is still at `seen` (undefined: absent). Returns the new epoch, or undefined
   * when another node moved it first.
   */
  async acquire(partition: number, seen: OwnerRecord | undefined): Promise<number | undefined> {
    const epoch = await compareAndSet(this.kv, keys.owner(partition), this.node, seen?.epoch ?? 0);
    if (epoch !== undefined) this.note(partition, this.node, epoch);
    return epoch;
  }

  /** Gives the partition up (owner ''), if this node still holds it at `epoch`; the next owner takes it at once. */
  async release(partition: number, epoch: number): Promise<boolean> {
    const next = await compareAndSet(this.kv, keys.owner(partition), '', epoch);
    if (next === undefined) return false;
    this.note(partition, '', next);
    return true;
  }

  /** Re-reads the owner key from the server (after a refused write: is this node still the owner?). */
  async refresh(partition: number): Promise<OwnerRecord | undefined> {
    const entry = await this.leader.get(keys.owner(partition));
    if (entry === null) return undefined;
    this.note(partition, entry.operation === 'PUT' ? entry.string() : '', entry.revision);
    return this.owners.get(partition);
  }

  private note(partition: number, node: string, epoch: number): void {
    const previous = this.owners.get(partition);
    if (previous === undefined || previous.epoch < epoch) this.owners.set(partition, { node, epoch });
  }

  /**
   * The watch's check: reads these partitions' owner keys from the leader (and takes what it finds). If the leader
   * has had a newer record than the watch delivered for longer than `graceMs`, the watch missed it (stalled): it is
   * opened again. Returns whether it was.
   */
  async verify(partitions: readonly number[], graceMs: number, now = Date.now()): Promise<boolean> {
    let stalled = false;
    for (const p of partitions) {
      const entry = await this.leader.get(keys.owner(p));
      if (entry === null) continue;
      this.note(p, entry.operation === 'PUT' ? entry.string() : '', entry.revision);
      if (entry.revision <= (this.delivered.get(p) ?? 0)) {
        this.missing.delete(p);
        continue;
      }
      const since = this.missing.get(p);
      if (since === undefined) this.missing.set(p, now);
      else if (now - since >= graceMs) stalled = true;
    }
    if (stalled) {
      this.missing.clear();
      void this.reopen('missed a change of an owner key');
    }
    return stalled;
  }

  /** Opens the watch again (it delivers every owner key's last value first). */
  reopen(why: string): Promise<void> {
    return this.watcher?.reopen(why) ?? Promise.resolve();
  }

  /** Times the watch was opened again (it ended or stalled). */
  get watchReopened(): number {
    return this.watcher?.reopened ?? 0;
  }

  stop(): void {
    this.watcher?.stop();
  }
}
