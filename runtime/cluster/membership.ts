// Cluster membership: each node puts a heartbeat key in the bucket every heartbeatMs; a node whose last heartbeat is older than memberTimeoutMs is gone.
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { SandboxError } from '../errors.ts';
import { compareAndSet, keys } from './bucket.ts';
import { KeptWatch } from './watch.ts';

/** What a node says about itself in its heartbeat (also what `sandbox cluster status` shows). */
export interface MemberReport {
  node: string;
  pid: number;
  startedAt: number;
  /** Partitions it runs: epoch, committed position, and messages not delivered yet (lag). */
  partitions: Record<string, { epoch: number; position: number; pending: number }>;
  /**
   * Set once it has begun a graceful stop: the others no longer give it partitions, so each one it releases goes to
   * its next owner at once (it still holds the ones it has not released: it is live).
   */
  leaving?: boolean;
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
  /** Per member, the revision of the last entry seen (a reopened watch may deliver an older one late). */
  private readonly revisions = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private watcher: KeptWatch | undefined;
  private stopped = false;
  private warned = false;
  private leaving = false;
  /**
   * The first heartbeat of this node acknowledged by the server and not yet seen coming back through the watch (with
   * when it was acknowledged): the watch's own liveness probe. Every heartbeat comes back within milliseconds
   * while the watch works.
   */
  private unseen: { revision: number; at: number } | undefined;
  private ownSeen = 0;
  /** The server's time of this node's last own heartbeat seen through the watch: its view is whole up to then. */
  private lastEcho = 0;
  /** When this node's view came back after a gap (the server's time): no member's age counts from before it. */
  private recoveredAt = 0;
  /** This process's pid and start time, as its heartbeats carry them. */
  private identity: { pid: number; startedAt: number } | undefined;
  private lastReopen = 0;

  constructor(
    private readonly kv: KV,
    /** The bucket through its leader: the join check must not read an old heartbeat from a replica. */
    private readonly leader: KV,
    readonly node: string,
    private readonly heartbeatMs: number,
    private readonly timeoutMs: number,
    /** The report the next heartbeat carries. */
    private readonly report: () => MemberReport,
    /** Called when a member appears or leaves (not on every heartbeat). */
    private readonly changed: () => void,
    private readonly log: (message: string) => void,
  ) {}

  /**
   * Claims the node id (refusing it if another live process holds it), then writes a heartbeat every heartbeatMs;
   * watches everyone's.
   */
  async start(): Promise<void> {
    await this.claim();
    // Beating from the claim on: the wait below must not make this node look dead to the others.
    this.timer = setInterval(() => {
      this.beat().catch((error: unknown) => this.log(`cluster: heartbeat failed: ${String(error)}`));
    }, this.heartbeatMs);
    this.watcher = new KeptWatch(this.kv, keys.members, (entry) => this.seen(entry), this.log, 'membership');
    // Every member's last heartbeat must be in before the node rebalances: a member not seen yet looks dead, and
    // its partitions would be taken from it (this node's own entry is there, so the wait ends).
    await this.watcher.start(this.timeoutMs);
  }

  /**
   * Writes the first heartbeat, by compare-and-set: over no entry, over a left node's, or over one not rewritten for
   * memberTimeoutMs (a predecessor killed with -9: this waits out its timeout, at most). An entry that is rewritten
   * meanwhile belongs to another live process with this id: two would count as one member and run the same
   * partitions, so this one is refused (SANDBOX_CLUSTER_NODE_IN_USE).
   */
  private async claim(): Promise<void> {
    const name = keys.member(this.node);
    let watched: number | undefined;
    for (;;) {
      const entry = await this.leader.get(name);
      if (entry === null || entry.operation !== 'PUT') {
        if ((await compareAndSet(this.kv, name, JSON.stringify(this.report()), entry?.revision ?? 0)) !== undefined)
          return;
        continue; // another process wrote it first: read what it wrote
      }
      if (watched !== undefined && entry.revision !== watched) {
        let holder = '';
        try {
          const report = entry.json<MemberReport>();
          holder = ` (pid ${report.pid}, started ${new Date(report.startedAt).toISOString()})`;
        } catch {
          // not a heartbeat of ours: say nothing about it
        }
        throw new SandboxError(
          'SANDBOX_CLUSTER_NODE_IN_USE',
          `cluster: node id ${JSON.stringify(this.node)} is in use by another live process${holder}: give each serve its own cluster.node (or SANDBOX_NODE_ID)`,
        );
      }
      if (Date.now() - entry.created.getTime() >= this.timeoutMs) {
        if ((await compareAndSet(this.kv, name, JSON.stringify(this.report()), entry.revision)) !== undefined) return;
        continue;
      }
      watched ??= entry.revision;
      await new Promise((resolve) => setTimeout(resolve, Math.max(10, Math.floor(this.heartbeatMs / 2))));
    }
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    const report = this.report();
    const revision = await this.kv.put(
      keys.member(this.node),
      JSON.stringify(this.leaving ? { ...report, leaving: true } : report),
    );
    if (revision > this.ownSeen) this.unseen ??= { revision, at: Date.now() };
  }

  /**
   * Whether the watch looks stalled: a heartbeat of this node, acknowledged more than echoWithinMs ago, has not come
   * back through it. Until it does, the others' silence proves nothing.
   */
  private blindSince(now: number): number | undefined {
    const u = this.unseen;
    return u !== undefined && now - u.at > this.echoWithinMs() ? u.at : undefined;
  }

  /**
   * How late an own heartbeat may come back through the watch: a heartbeat interval, or up to 500 ms if the member
   * timeout leaves room (the others' ages keep being judged until then, so it must stay well inside that timeout).
   */
  private echoWithinMs(): number {
    return Math.max(this.heartbeatMs, Math.min(500, Math.floor(this.timeoutMs / 4)));
  }

  /**
   * Reopens the watch if it stalled (called on the node's rebalance timer; at most once per echoWithinMs). The
   * node stays blind (judging no one dead) until its own heartbeat comes back through the new watch. True when it
   * reopened.
   */
  checkWatch(now = Date.now()): boolean {
    const since = this.blindSince(now);
    if (this.stopped || since === undefined) return false;
    if (now - this.lastReopen < this.echoWithinMs()) return false;
    this.lastReopen = now;
    void this.watcher?.reopen(`has not delivered this node's own heartbeat for ${now - since} ms`);
    return true;
  }

  /** Times the watch was opened again (it ended or stalled). */
  get watchReopened(): number {
    return this.watcher?.reopened ?? 0;
  }

  /**
   * The clock a member's age is judged by: now, but never later than when this node's next own heartbeat was due to
   * come back through the watch. A node that cannot write its heartbeat (NATS unreachable, a stream electing its
   * leader) or cannot see it (a stalled watch) cannot tell a silent member from its own blindness, and must not take
   * the others for dead.
   */
  private judgedAt(now: number): number {
    return Math.min(now, this.lastEcho + this.heartbeatMs + this.echoWithinMs());
  }

  /** A member's age: since its last heartbeat, or since this node's view came back, whichever is later. */
  private age(view: MemberView, now: number): number {
    return this.judgedAt(now) - Math.max(view.at, this.recoveredAt);
  }

  private seen(entry: KvWatchEntry): void {
    const node = entry.key.slice('members.'.length);
    if (entry.revision < (this.revisions.get(node) ?? 0)) return; // older than one seen (a superseded watch)
    this.revisions.set(node, entry.revision);
    if (node === this.node) {
      this.ownSeen = Math.max(this.ownSeen, entry.revision);
      if (this.unseen !== undefined && this.unseen.revision <= this.ownSeen) this.unseen = undefined;
    }
    const known = this.members.has(node);
    if (entry.operation !== 'PUT') {
      this.members.delete(node);
      if (known) this.changed();
      return;
    }
    let report: MemberReport;
    try {
      report = entry.json<MemberReport>();
    } catch {
      return; // not a heartbeat of ours
    }
    if (node === this.node && !this.stopped && !this.warned && !this.isMine(report)) {
      // Another process took this id (it found our heartbeat late past the timeout): both now run as one member.
      this.warned = true;
      this.log(
        `cluster: another process (pid ${report.pid}) writes heartbeats as node ${this.node}: give each serve its own node id`,
      );
    }
    const at = entry.created.getTime();
    if (node === this.node && this.isMine(report) && at > this.lastEcho) {
      // This node's view is whole up to `at`. After a gap (its start, or a time it could not write or see its own
      // heartbeats), the others' heartbeats may be on their way: each gets a whole timeout from here.
      if (at - this.lastEcho > 2 * this.heartbeatMs + this.echoWithinMs()) this.recoveredAt = at;
      this.lastEcho = at;
    }
    this.members.set(node, { report, at });
    if (!known) this.changed();
  }

  /** Whether a heartbeat under this node's id was written by this process. */
  private isMine(report: MemberReport): boolean {
    this.identity ??= this.report();
    return report.pid === this.identity.pid && report.startedAt === this.identity.startedAt;
  }

  /**
   * Members whose last heartbeat is recent enough and that are not leaving, sorted (the ones partitions go to); this
   * node is always one while it runs.
   */
  live(now = Date.now()): string[] {
    const out: string[] = [];
    for (const [node, view] of this.members)
      if (node === this.node || (this.age(view, now) < this.timeoutMs && view.report.leaving !== true)) out.push(node);
    if (!this.stopped && !out.includes(this.node)) out.push(this.node);
    return out.sort();
  }

  isLive(node: string, now = Date.now()): boolean {
    if (node === this.node) return !this.stopped;
    const view = this.members.get(node);
    return view !== undefined && this.age(view, now) < this.timeoutMs;
  }

  /** Every member seen, live or not. */
  all(): Map<string, MemberView> {
    return this.members;
  }

  /** Says in a heartbeat written now that this node is leaving (a graceful stop begins). */
  async announceLeaving(): Promise<void> {
    this.leaving = true;
    await this.beat().catch((error: unknown) => this.log(`cluster: heartbeat failed: ${String(error)}`));
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
