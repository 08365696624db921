// A cluster node: joins the membership, takes the partitions its source gives it (rendezvous hashing on NATS, the consumer group on Kafka; fenced by the owner key's revision), runs them, and hands them over.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { SandboxError } from '../errors.ts';
import { readStateImage } from '../hibernation/state-image.ts';
import { compilePattern } from '../queue/topics.ts';
import type { Sandbox } from '../sandbox.ts';
import { KeyedInstances } from '../swarm/keyed-instances.ts';
import type { AgentSpec } from '../swarm/topology.ts';
import { keys, openBucket, type ClusterBucket } from './bucket.ts';
import type { ClusterConfig } from './config.ts';
import { KeyStateStore } from './key-state.ts';
import { Membership, type MemberReport } from './membership.ts';
import { Ownership } from './ownership.ts';
import {
  newClusterCounts,
  PartitionConsumer,
  type ClusterAgent,
  type ClusterCounts,
  type PartitionContext,
} from './partition-consumer.ts';
import { natsSource, type ClusterSource } from './source.ts';

/** A graceful stop gives its partitions this long to drain and be released. */
const DRAIN_TIMEOUT_MS = 15_000;
/**
 * A partition this node should run but a live node still holds is taken anyway after this long: the holder should
 * have drained and released it by then (DRAIN_TIMEOUT_MS), and what it still writes is refused by the fence.
 */
const TAKE_ANYWAY_MS = DRAIN_TIMEOUT_MS + 5000;

function quantile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Drains the partition; false if that took longer than `ms` (the drain goes on; the caller decides). */
async function drainWithin(consumer: PartitionConsumer, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([
    consumer.drain().then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return done;
}

export interface ClusterNodeOptions {
  config: ClusterConfig;
  /** NATS servers (`host:port`) of the bucket (and of the queue, unless `source` says otherwise). */
  servers: string[];
  /** The NATS queue's stream and subject prefix (as the NATS queue backend was given them). */
  stream: string;
  prefix: string;
  deadLetter: string;
  /** Where the partitions come from (default: the NATS stream named above, owners by rendezvous hashing). */
  source?: (bucket: ClusterBucket) => ClusterSource;
  /** The per-key agents of the topology: this node runs them. */
  agents: AgentSpec[];
  /** A sandbox with hibernation: its store is this node's local cache of key states. */
  sandbox: Sandbox;
  log(message: string): void;
}

/** A hand-over as this node saw it: the partition, and the pause between the last owner's release and this start. */
export interface Takeover {
  partition: number;
  epoch: number;
  from: string;
  at: number;
}

export class ClusterNode {
  readonly counts: ClusterCounts = newClusterCounts();
  readonly takeovers: Takeover[] = [];
  private readonly running = new Map<number, PartitionConsumer>();
  /** Partitions being handed over or taken (a rebalance leaves them alone meanwhile). */
  private readonly moving = new Set<number>();
  /** Takes in flight (stop() waits for them). */
  private readonly taking = new Set<Promise<void>>();
  /** Since when (Date.now()) this node has wanted each partition it does not run yet. */
  private readonly wantedSince = new Map<number, number>();
  private source!: ClusterSource;
  private membership!: Membership;
  private ownership!: Ownership;
  private agents: ClusterAgent[] = [];
  private readonly basesChecked = new Set<string>();
  private rebalancing = false;
  private verifying = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly startedAt = Date.now();

  private constructor(
    private readonly options: ClusterNodeOptions,
    readonly bucket: ClusterBucket,
  ) {}

  get node(): string {
    return this.options.config.node;
  }

  static async start(options: ClusterNodeOptions): Promise<ClusterNode> {
    const { config } = options;
    const bucket = await openBucket({
      servers: options.servers,
      bucket: config.bucket,
      replicas: config.replicas,
      name: `sandbox-cluster-${config.node}`,
    });
    const node = new ClusterNode(options, bucket);
    try {
      await node.init();
    } catch (error) {
      await node.stop({ graceful: false });
      throw error;
    }
    return node;
  }

  private async init(): Promise<void> {
    const { options, bucket } = this;
    const { sandbox } = options;
    for (const spec of options.agents) {
      const bytes = new Uint8Array(await readFile(spec.module));
      const moduleHash = createHash('sha256').update(bytes).digest('hex');
      // Every node decodes states against the module's base image the cluster stored first.
      const base = await bucket.kv.get(keys.base(moduleHash));
      if (base !== null && base.operation === 'PUT') await sandbox.putBase(moduleHash, base.value);
      const patterns = spec.subscribe.map((p) => compilePattern(p));
      this.agents.push({
        spec,
        matches: (topic) => patterns.some((p) => p(topic)),
        keyed: new KeyedInstances(
          sandbox,
          spec.name,
          bytes,
          {
            name: spec.name,
            limits: spec.limits,
            exportState: true,
            ...(spec.graph ? { graph: spec.graph } : {}),
          },
          spec.inbox ?? 1024,
        ),
      });
    }
    const rebalance = () => this.rebalance();
    this.source =
      options.source?.(bucket) ??
      natsSource({
        node: options.config.node,
        bucket,
        stream: options.stream,
        prefix: options.prefix,
        partitions: options.config.partitions,
        deadLetter: options.deadLetter,
        log: options.log,
      });
    this.membership = new Membership(
      bucket.kv,
      bucket.leader,
      options.config.node,
      options.config.heartbeatMs,
      options.config.memberTimeoutMs,
      () => this.report(),
      rebalance,
      options.log,
    );
    this.ownership = new Ownership(bucket.kv, bucket.leader, options.config.node, rebalance, options.log);
    await this.membership.start();
    // The owners seen before the first rebalance spare it takes that the fence would refuse anyway.
    await this.ownership.start(options.config.heartbeatMs);
    await this.source.start(rebalance);
    // Members time out without any write to watch: a timer notices. It also checks the watches (either can stop
    // delivering after a nats-server dies, without an error).
    const tick = Math.max(50, Math.floor(options.config.heartbeatMs / 2));
    let ticks = 0;
    this.timer = setInterval(() => {
      // Our own heartbeat not coming back through the membership watch: reopen it, and the ownership watch (same
      // stream, same connection) with it.
      if (this.membership.checkWatch()) void this.ownership.reopen('was reopened with the membership watch');
      if (++ticks * tick >= options.config.memberTimeoutMs) {
        ticks = 0;
        void this.verifyOwners();
      }
      rebalance();
    }, tick);
    this.rebalance();
  }

  /**
   * Compares the owner keys of the partitions this node runs or should run with the leader's (every memberTimeoutMs):
   * a missed release would leave a partition without an owner, a missed take would leave two nodes running it.
   */
  private async verifyOwners(): Promise<void> {
    if (this.verifying || this.stopping) return;
    this.verifying = true;
    try {
      const live = this.membership.live();
      const mine: number[] = [];
      for (let p = 0; p < this.options.config.partitions; p++)
        if (this.running.has(p) || this.source.wants(p, live)) mine.push(p);
      if (await this.ownership.verify(mine, this.options.config.heartbeatMs)) this.rebalance();
    } catch (error) {
      this.options.log(`cluster: checking the owner keys failed: ${String(error)}`);
    } finally {
      this.verifying = false;
    }
  }

  private report(): MemberReport {
    const partitions: MemberReport['partitions'] = {};
    for (const [p, c] of this.running)
      partitions[String(p)] = { epoch: c.epoch, position: c.committed, pending: c.pending };
    const { applied, skipped, fenced, deadLettered, takeoverWakeP99Ms, takeoverReadP99Ms } = this.summary();
    return {
      node: this.node,
      pid: process.pid,
      startedAt: this.startedAt,
      partitions,
      counts: { applied, skipped, fenced, deadLettered, takeoverWakeP99Ms, takeoverReadP99Ms },
    };
  }

  /** Partitions this node runs now. */
  owned(): number[] {
    return [...this.running.keys()].sort((a, b) => a - b);
  }

  /** Brings this node's partitions in line with the live members: takes its own, hands over the others'. */
  rebalance(): void {
    if (this.stopping) return;
    if (this.rebalancing) {
      this.again = true;
      return;
    }
    this.rebalancing = true;
    void this.rebalanceOnce()
      .catch((error: unknown) => this.options.log(`cluster: rebalance failed: ${String(error)}`))
      .finally(() => {
        this.rebalancing = false;
        if (this.again) {
          this.again = false;
          this.rebalance();
        }
      });
  }

  private async rebalanceOnce(): Promise<void> {
    const now = Date.now();
    const live = this.membership.live(now);
    const me = this.node;
    for (let p = 0; p < this.options.config.partitions; p++) {
      if (this.moving.has(p)) continue;
      const wanted = this.source.wants(p, live);
      const owner = this.ownership.current(p);
      const mine = this.running.get(p);
      if (mine !== undefined) {
        if (mine.lost || (owner !== undefined && owner.epoch > mine.epoch)) {
          // Someone took it (this node was paused or cut off): stop at once; the fence refuses what is in flight.
          mine.abort();
          this.running.delete(p);
          if (owner?.node === me && owner.epoch === mine.epoch) {
            // It stopped itself (a key it could not finish, or its source refused a commit): taken again from its
            // position if this node still wants it; else released, so the next owner need not wait for this live node.
            this.options.log(
              `cluster: partition ${p} stopped (epoch ${mine.epoch}); ${wanted ? 'taking it again' : 'releasing it'}`,
            );
            if (!wanted) void this.ownership.release(p, mine.epoch).catch(() => false);
          } else this.options.log(`cluster: lost partition ${p} (epoch ${mine.epoch}) to ${owner?.node || 'nobody'}`);
        } else if (!wanted) {
          // Not awaited: a slow drain must not hold up the other partitions' moves (`moving` guards this one).
          void this.handOver(p, mine).catch((error: unknown) =>
            this.options.log(`cluster: handing over partition ${p} failed: ${String(error)}`),
          );
        }
        continue;
      }
      if (!wanted) {
        this.wantedSince.delete(p);
        continue;
      }
      const since = this.wantedSince.get(p) ?? now;
      this.wantedSince.set(p, since);
      const free =
        owner === undefined ||
        owner.node === '' ||
        owner.node === me ||
        !this.membership.isLive(owner.node, now) ||
        now - since > TAKE_ANYWAY_MS;
      if (free) {
        const taking = this.take(p, owner).catch((error: unknown) => {
          this.options.log(`cluster: taking partition ${p} failed: ${String(error)}`);
        });
        this.taking.add(taking);
        void taking.finally(() => {
          this.taking.delete(taking);
        });
      }
    }
  }

  private async take(p: number, seen: ReturnType<Ownership['current']>): Promise<void> {
    this.moving.add(p);
    try {
      const epoch = await this.ownership.acquire(p, seen);
      if (epoch === undefined) return; // another node moved first; the watch brings its record
      if (this.stopping) {
        // Stopping meanwhile: this partition was not among those stop() drains, so give it back untouched.
        await this.ownership.release(p, epoch).catch(() => false);
        return;
      }
      this.wantedSince.delete(p);
      const from = await this.source.position(p);
      const consumer = new PartitionConsumer(this.context(), p, epoch, from, this.source.log(p));
      this.running.set(p, consumer);
      this.takeovers.push({ partition: p, epoch, from: seen?.node ?? '', at: performance.now() });
      await consumer.start();
      this.options.log(`cluster: took partition ${p} at epoch ${epoch} from position ${from}`);
    } finally {
      this.moving.delete(p);
    }
  }

  private async handOver(p: number, consumer: PartitionConsumer): Promise<void> {
    this.moving.add(p);
    try {
      if (!(await drainWithin(consumer, DRAIN_TIMEOUT_MS))) {
        // Stuck (the bucket unreachable, say): release anyway so the next owner is not kept waiting on a live node;
        // whatever this node still commits is checked by the fence like any stale owner's.
        this.options.log(`cluster: partition ${p} did not drain within ${DRAIN_TIMEOUT_MS} ms; releasing it anyway`);
        consumer.abort();
      }
      this.running.delete(p);
      await this.ownership.release(p, consumer.epoch);
      this.options.log(`cluster: handed over partition ${p} at position ${consumer.committed}`);
    } finally {
      this.moving.delete(p);
    }
  }

  private context(): PartitionContext {
    const { options, bucket } = this;
    return {
      agents: this.agents,
      states: new KeyStateStore(bucket.kv),
      leaderStates: new KeyStateStore(bucket.leader),
      sandbox: options.sandbox,
      counts: this.counts,
      stillOwner: async (p, epoch) => {
        const owner = await this.ownership.refresh(p);
        return owner !== undefined && owner.epoch === epoch && owner.node === this.node;
      },
      checkBase: (agent, image) => this.checkBase(agent, image),
      log: options.log,
    };
  }

  /** The first state a module exports here: its base image must be the one the bucket has (or become it). */
  private async checkBase(agent: ClusterAgent, image: Uint8Array): Promise<void> {
    const { moduleHash } = readStateImage(image);
    if (this.basesChecked.has(moduleHash)) return;
    const local = await this.options.sandbox.storedBase(moduleHash);
    if (local === undefined) return;
    const name = keys.base(moduleHash);
    try {
      await this.bucket.kv.create(name, local);
    } catch {
      const stored = await this.bucket.kv.get(name);
      if (stored === null || !Buffer.from(stored.value).equals(Buffer.from(local))) {
        throw new SandboxError(
          'SANDBOX_STATE_MISMATCH',
          `cluster: agent ${agent.spec.name}: this node's initial memory of module ${moduleHash.slice(0, 12)}… differs from the one the cluster stored; its states cannot move between nodes (restart this node so it adopts the cluster's)`,
        );
      }
    }
    this.basesChecked.add(moduleHash);
  }

  /** The counters, partitions taken, and the first-wake-after-takeover percentiles, for serve's summary. */
  summary(): Omit<ClusterCounts, 'takeoverWakeMs' | 'takeoverReadMs'> & {
    takeovers: number;
    takeoverWakeP50Ms: number | null;
    takeoverWakeP99Ms: number | null;
    takeoverReadP99Ms: number | null;
    /** Times the membership and ownership watches were opened again (they ended or stalled). */
    watchReopens: number;
  } {
    const { takeoverWakeMs, takeoverReadMs, ...counts } = this.counts;
    return {
      ...counts,
      takeovers: this.takeovers.length,
      watchReopens: (this.membership?.watchReopened ?? 0) + (this.ownership?.watchReopened ?? 0),
      takeoverWakeP50Ms: quantile(takeoverWakeMs, 0.5),
      takeoverWakeP99Ms: quantile(takeoverWakeMs, 0.99),
      takeoverReadP99Ms: quantile(takeoverReadMs, 0.99),
    };
  }

  /** Members as this node sees them, and which are live. */
  members(): { node: string; live: boolean; report: MemberReport }[] {
    const now = Date.now();
    return [...this.membership.all()].map(([node, view]) => ({
      node,
      live: this.membership.isLive(node, now),
      report: view.report,
    }));
  }

  /**
   * Graceful: stops taking partitions, drains each (runs in flight finish and commit), writes positions, releases
   * the owner keys and leaves, so the next owners start at once. Not graceful: just stops.
   */
  async stop({ graceful }: { graceful: boolean }): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    // Takes in flight finish first (or give their partition back): one that started its consumer after the loop
    // below would keep running, and its timers would keep the process from exiting.
    await Promise.allSettled([...this.taking]);
    try {
      if (graceful) {
        // First say so: the others then take each partition as soon as it is released, not once all are.
        // (At most a heartbeat interval or a second of waiting: NATS may be unreachable.)
        const announced = this.membership?.announceLeaving();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          announced,
          new Promise((resolve) => (timer = setTimeout(resolve, Math.max(1000, this.options.config.heartbeatMs)))),
        ]);
        clearTimeout(timer);
        // Bounded: with NATS unreachable a drain would retry its writes forever. What is left undone is read again
        // by the next owner.
        await Promise.all(
          [...this.running].map(async ([p, consumer]) => {
            if (!(await drainWithin(consumer, DRAIN_TIMEOUT_MS))) consumer.abort();
            await this.ownership?.release(p, consumer.epoch).catch(() => false);
          }),
        );
        await this.membership?.leave();
      } else {
        for (const consumer of this.running.values()) consumer.abort();
        this.membership?.stop();
      }
      this.running.clear();
      await this.source?.stop().catch((error: unknown) => this.options.log(`cluster: stopping: ${String(error)}`));
      this.ownership?.stop();
      for (const agent of this.agents) agent.keyed.close();
    } finally {
      if (graceful) await this.bucket.nc.drain().catch(() => this.bucket.nc.close());
      else await this.bucket.nc.close().catch(() => {});
    }
  }
}
