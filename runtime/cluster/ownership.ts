// Partition ownership: each partition's owner key in the bucket; its revision is the owner's epoch, and taking or giving up a partition is a compare-and-set on it.
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { compareAndSet, keys } from './bucket.ts';

export interface OwnerRecord {
  /** The owning node, or '' once released. */
  node: string;
  /** The key's revision: the owner's epoch. */
  epoch: number;
}

export class Ownership {
  private readonly owners = new Map<number, OwnerRecord>();
  private watcher: { stop(): void } | undefined;

  constructor(
    private readonly kv: KV,
    /** The bucket through its leader: `refresh` must not see an older owner than the truth. */
    private readonly leader: KV,
    private readonly node: string,
    private readonly changed: (partition: number) => void,
    private readonly log: (message: string) => void,
  ) {}

  async start(): Promise<void> {
    const iterator = await this.kv.watch({ key: keys.owners });
    this.watcher = iterator;
    void (async () => {
      for await (const entry of iterator) this.seen(entry);
    })().catch((error: unknown) => this.log(`cluster: ownership watch ended: ${String(error)}`));
  }

  private seen(entry: KvWatchEntry): void {
    const partition = Number(entry.key.slice('owners.'.length));
    if (!Number.isInteger(partition)) return;
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

  stop(): void {
    this.watcher?.stop();
  }
}
