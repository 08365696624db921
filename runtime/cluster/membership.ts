// Cluster membership: each node puts a heartbeat key in the bucket every heartbeatMs; a node whose last heartbeat is older than memberTimeoutMs is gone.
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { keys } from './bucket.ts';

/** What a node says about itself in its heartbeat (also what `sandbox cluster status` shows). */
export interface MemberReport {
  node: string;
  pid: number;
  startedAt: number;
  /** Partitions it runs: epoch, committed position, and messages not delivered yet (lag). */
  partitions: Record<string, { epoch: number; position: number; pending: number }>;
  /** Its counters since it started (applied, skipped replays, fenced writes, dead letters). */
  counts?: {
    applied: number;
    skipped: number;
    fenced: number;
    deadLettered: number;
    /** The slowest 1% of first wakes from the bucket's state after a takeover (restoring it), ms. */
    takeoverWakeP99Ms: number | null;
    /** The slowest 1% of reads of a key's state from the bucket on first touch, ms. */
    takeoverReadP99Ms?: number | null;
  };
}

export interface MemberView {
  report: MemberReport;
  /** When the last heartbeat was written (the server's clock). */
  at: number;
}

export class Membership {
  private readonly members = new Map<string, MemberView>();
  private timer: NodeJS.Timeout | undefined;
  private watcher: { stop(): void } | undefined;
  private stopped = false;

  constructor(
    private readonly kv: KV,
    readonly node: string,
    private readonly heartbeatMs: number,
    private readonly timeoutMs: number,
    /** The report the next heartbeat carries. */
    private readonly report: () => MemberReport,
    /** Called when a member appears or leaves (not on every heartbeat). */
    private readonly changed: () => void,
    private readonly log: (message: string) => void,
  ) {}

  /** Writes the first heartbeat, then keeps writing; watches everyone's. */
  async start(): Promise<void> {
    await this.beat();
    const iterator = await this.kv.watch({ key: keys.members });
    this.watcher = iterator;
    void (async () => {
      for await (const entry of iterator) this.seen(entry);
    })().catch((error: unknown) => this.log(`cluster: membership watch ended: ${String(error)}`));
    this.timer = setInterval(() => {
      this.beat().catch((error: unknown) => this.log(`cluster: heartbeat failed: ${String(error)}`));
    }, this.heartbeatMs);
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    await this.kv.put(keys.member(this.node), JSON.stringify(this.report()));
  }

  private seen(entry: KvWatchEntry): void {
    const node = entry.key.slice('members.'.length);
    const known = this.members.has(node);
    if (entry.operation !== 'PUT') {
      this.members.delete(node);
      if (known) this.changed();
      return;
    }
    try {
      this.members.set(node, { report: entry.json<MemberReport>(), at: entry.created.getTime() });
    } catch {
      return; // not a heartbeat of ours
    }
    if (!known) this.changed();
  }

  /** Members whose last heartbeat is recent enough, sorted; this node is always one while it runs. */
  live(now = Date.now()): string[] {
    const out: string[] = [];
    for (const [node, view] of this.members) if (node === this.node || now - view.at < this.timeoutMs) out.push(node);
    if (!this.stopped && !out.includes(this.node)) out.push(this.node);
    return out.sort();
  }

  isLive(node: string, now = Date.now()): boolean {
    if (node === this.node) return !this.stopped;
    const view = this.members.get(node);
    return view !== undefined && now - view.at < this.timeoutMs;
  }

  /** Every member seen, live or not. */
  all(): Map<string, MemberView> {
    return this.members;
  }

  /** Stops heart-beating and removes this node's key, so the others rebalance at once. */
  async leave(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.watcher?.stop();
    await this.kv.delete(keys.member(this.node)).catch(() => {});
  }

  /** Stops without a word (the others notice after the timeout). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.watcher?.stop();
  }
}
