// bench/cluster: cluster mode's fault matrix (3-node NATS, `sandbox serve` nodes, a per-key counter): lost/doubled updates, failover, hand-over, stall, throughput, wake after takeover.
//
// `npm run bench -- cluster [--keys 1000] [--messages 12000] [--scenarios a,b] [--skip-throughput] [--skip-matrix]`
// `[--skip-kafka] [--kafka-only]` (scenarios: kill-serve, join, sigstop, leave, rolling, nats-kill; all by default, in
// that order; --logs <dir> writes every serve process's log there at the end; --kafka-only: just the Kafka
// scenarios: a kill -9 of a serve, a node joining and leaving, a broker restart). Every scenario publishes
// `messages` keyed `{by}` messages over `keys` keys while it injects its fault, waits until every key applied its
// last message, then reads every key's count back through the counter itself and compares it with what was
// published for it. Timings come from watching the cluster's bucket: owner keys (takeovers, releases) and state
// commits (which partition moved again). Prints a table, then one JSON line.
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { openBucket } from '../runtime/cluster/bucket.ts';
import { partitionOf } from '../runtime/cluster/partitioner.ts';
import { kafkaPartitionOf } from '../runtime/queue/murmur2.ts';
import type { MemberReport } from '../runtime/cluster/membership.ts';
import { encode } from '../runtime/codec.ts';
import { KEY_HEADER } from '../runtime/queue/nats.ts';
import { ClusterRig, RIG_PREFIX, RIG_STREAM } from '../test/support/cluster-rig.ts';
import { sleep, startServe, type ServeProcess } from '../test/support/serve-process.ts';
import { KafkaClusterRig } from '../test/support/kafka-cluster-rig.ts';
import { missingReason, restart, startKafka, startNats, stop as stopServer } from '../test/support/services.ts';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '12000' },
    'skip-throughput': { type: 'boolean', default: false },
    'skip-matrix': { type: 'boolean', default: false },
    'skip-kafka': { type: 'boolean', default: false },
    'kafka-only': { type: 'boolean', default: false },
    scenarios: { type: 'string', default: '' },
    logs: { type: 'string' },
  },
});
const SCENARIOS = ['kill-serve', 'join', 'sigstop', 'leave', 'rolling', 'nats-kill'] as const;
const chosen = args.scenarios === '' ? [...SCENARIOS] : args.scenarios.split(',').map((x) => x.trim());
for (const name of chosen)
  if (!(SCENARIOS as readonly string[]).includes(name)) {
    console.error(`unknown scenario ${name}: one of ${SCENARIOS.join(', ')}`);
    process.exit(2);
  }
const want = (name: (typeof SCENARIOS)[number]) => chosen.includes(name);
const KEYS = Array.from({ length: Number(args.keys) }, (_, i) => `user-${i}`);
const MESSAGES = Number(args.messages);
const PARTITIONS = 16;

interface Row {
  scenario: string;
  lost: number;
  duplicated: number;
  note: string;
}
const rows: Row[] = [];
const failovers: number[] = [];
const handovers: number[] = [];
/** The slowest 1% of bucket reads on a key's first touch after the kill -9 takeover (the part of a first wake that is ours to wait for). */
let readP99: number | null = null;
const stalls: number[] = [];
let replayedAfterHandover = 0;

const pct = (xs: number[], q: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const ms = (x: number | null) => (x === null ? 'n/a' : `${Math.round(x)} ms`);

/** Watches owner keys and state commits of the rig's bucket with timestamps. */
class Watcher {
  readonly owners: { p: number; node: string; at: number }[] = [];
  readonly commits: { p: number; at: number }[] = [];
  private stops: { stop(): void }[] = [];
  constructor(
    private readonly kv: KV,
    private readonly partitionOfKey: (key: string) => number = (key) => partitionOf(key, PARTITIONS),
  ) {}
  async start(): Promise<void> {
    const kv = this.kv;
    const owners = await kv.watch({ key: 'owners.>', include: 'updates' });
    const states = await kv.watch({ key: 'state.>', include: 'updates', headers_only: true });
    this.stops.push(owners, states);
    void (async () => {
      for await (const e of owners as AsyncIterable<KvWatchEntry>)
        this.owners.push({
          p: Number(e.key.slice(7)),
          node: e.operation === 'PUT' ? e.string() : '',
          at: performance.now(),
        });
    })();
    void (async () => {
      for await (const e of states as AsyncIterable<KvWatchEntry>) {
        const key = Buffer.from(e.key.split('.')[2]!, 'base64url').toString('utf8');
        this.commits.push({ p: this.partitionOfKey(key), at: performance.now() });
      }
    })();
  }
  /** For partitions owned by `node` before `since`: when another node took each (ms after since) and its next commit. */
  moves(from: string, since: number): { p: number; takenMs: number; commitMs: number | null }[] {
    const lastOwner = new Map<number, string>();
    for (const o of this.owners) if (o.at < since) lastOwner.set(o.p, o.node);
    const out: { p: number; takenMs: number; commitMs: number | null }[] = [];
    for (const [p, node] of lastOwner) {
      if (node !== from) continue;
      const taken = this.owners.find((o) => o.p === p && o.at >= since && o.node !== '' && o.node !== from);
      if (taken === undefined) continue;
      const commit = this.commits.find((c) => c.p === p && c.at >= taken.at);
      out.push({ p, takenMs: taken.at - since, commitMs: commit === undefined ? null : commit.at - since });
    }
    return out;
  }
  /** For partitions released ('' written) after `since`: ms from the release to the next owner's take. */
  handovers(since: number): number[] {
    const out: number[] = [];
    for (const r of this.owners) {
      if (r.at < since || r.node !== '') continue;
      const next = this.owners.find((o) => o.p === r.p && o.at >= r.at && o.node !== '');
      if (next !== undefined) out.push(next.at - r.at);
    }
    return out;
  }
  /** The longest gap between state commits in [from, to]. */
  longestGap(from: number, to: number): number {
    const ts = this.commits.filter((c) => c.at >= from && c.at <= to).map((c) => c.at);
    let gap = 0;
    let prev = from;
    for (const t of ts) {
      gap = Math.max(gap, t - prev);
      prev = t;
    }
    return Math.max(gap, to - prev);
  }
  stop(): void {
    for (const s of this.stops) s.stop();
  }
}

/** Replays skipped since `before`, summed over the processes present both then and now (a restart resets counts). */
async function skippedSince(kv: KV, before: Map<string, number>): Promise<number> {
  let n = 0;
  for (const r of await reports(kv)) {
    const was = before.get(`${r.node}/${r.pid}`);
    n += (r.counts?.skipped ?? 0) - (was ?? 0);
  }
  return n;
}

async function skippedNow(kv: KV): Promise<Map<string, number>> {
  return new Map((await reports(kv)).map((r) => [`${r.node}/${r.pid}`, r.counts?.skipped ?? 0]));
}

async function reports(kv: KV): Promise<MemberReport[]> {
  const out: MemberReport[] = [];
  for await (const k of await kv.keys('members.>')) {
    const e = await kv.get(k);
    if (e?.operation === 'PUT') out.push(e.json<MemberReport>());
  }
  return out;
}

/** Publishes `n` messages in batches of 200 every 20 ms while `during` runs its fault. */
async function withTraffic(rig: ClusterRig, n: number, during: () => Promise<void>): Promise<void> {
  const publishing = rig.publish(n, KEYS, 200, 20);
  await sleep(300);
  await during();
  await publishing;
}

async function settleAndCheck(rig: ClusterRig, scenario: string, note: string): Promise<void> {
  await rig.settled(180_000);
  const { lost, duplicated, wrongKeys } = await rig.check();
  if (wrongKeys.length > 0) {
    console.log(`  ${scenario}: wrong keys ${wrongKeys.slice(0, 5).join('; ')}`);
    // What the nodes said about the first wrong key (retries, refused writes, stopped partitions), to find the cause.
    const key = wrongKeys[0]!.split(':')[0]!;
    for (const [id, node] of rig.nodes) {
      const lines = node
        .output()
        .stderr.split('\n')
        .filter((l) => l.includes(`/${key} `));
      if (lines.length > 0) console.log(`    ${id}: ${lines.slice(-10).join('\n    ')}`);
    }
  }
  rows.push({ scenario, lost, duplicated, note });
  console.log(`  ${scenario}: lost ${lost}, duplicated ${duplicated}; ${note}`);
}

/** Lines of the serve nodes' logs (the processes running now) that match `re` (global). */
function linesOf(rig: ClusterRig, re: RegExp): number {
  let n = 0;
  for (const node of rig.nodes.values()) n += (node.output().stderr.match(re) ?? []).length;
  return n;
}

/** Every serve process the matrix started, to write their logs out at the end (--logs <dir>). */
const started: { id: string; node: ServeProcess }[] = [];
function startNode(rig: ClusterRig, id: string): ServeProcess {
  const node = rig.startNode(id);
  started.push({ id, node });
  return node;
}

/** The nats-server (index in rig.nats.servers) leading the stream of the rig's bucket: killing it is the harder fault. */
async function bucketLeader(rig: ClusterRig): Promise<number> {
  const info = await rig.client.jsm.streams.info(`KV_${rig.bucketName}`);
  const leader = info.cluster?.leader ?? 'n2';
  const index = rig.nats.servers.findIndex((s) => s.args.includes(leader));
  return index < 0 ? 2 : index;
}

async function faultMatrix(): Promise<number | null> {
  const rig = await ClusterRig.start({ natsNodes: 3, partitions: PARTITIONS, heartbeatMs: 500, memberTimeoutMs: 3000 });
  const watcher = new Watcher(rig.client.kv);
  let wakeP99: number | null = null;
  try {
    await watcher.start();
    // Acknowledged writes survive one nats-server only if the bucket and the stream really are replicated.
    const replicas = async (name: string) => (await rig.client.jsm.streams.info(name)).config.num_replicas;
    console.log(
      `  replicas: bucket ${await replicas(`KV_${rig.bucketName}`)}, stream ${await replicas(RIG_STREAM)} (of ${rig.nats.servers.length} servers)`,
    );
    const nodes = new Map<string, ServeProcess>();
    for (const id of ['a', 'b', 'c']) nodes.set(id, startNode(rig, id));
    await Promise.all([...nodes.values()].map((n) => n.ready(60_000)));
    await rig.publish(Math.min(2000, MESSAGES), KEYS, 200, 0);
    await rig.settled(120_000);
    const per = Math.floor(MESSAGES / 5);
    /** Serve nodes not running now (killed or stopped by an earlier scenario). */
    const down = new Set<string>();

    if (want('kill-serve')) {
      // kill -9 of a serve node.
      let t0 = 0;
      await withTraffic(rig, per, async () => {
        t0 = performance.now();
        nodes.get('a')!.child.kill('SIGKILL');
        down.add('a');
        await sleep(6000);
      });
      const moved = watcher.moves('a', t0);
      for (const m of moved) failovers.push(m.commitMs ?? m.takenMs);
      const reps = await reports(rig.client.kv);
      wakeP99 = Math.max(...reps.map((r) => r.counts?.takeoverWakeP99Ms ?? 0));
      readP99 = Math.max(...reps.map((r) => r.counts?.takeoverReadP99Ms ?? 0));
      await settleAndCheck(
        rig,
        'kill -9 serve',
        `${moved.length} partitions moved; taken after p50 ${ms(
          pct(
            moved.map((m) => m.takenMs),
            0.5,
          ),
        )}, processing again after p50 ${ms(pct(failovers, 0.5))}, max ${ms(pct(failovers, 1))}; first wake from the bucket's state p99 ${wakeP99?.toFixed(2)} ms, bucket read p99 ${readP99?.toFixed(1)} ms`,
      );
    }

    if (want('join')) {
      // A node joins (a again, same id, its old local store): partitions hand over to it gracefully.
      if (!down.has('a')) {
        await nodes.get('a')!.stop('SIGTERM');
        await rig.settled(120_000);
      }
      let t1 = 0;
      const beforeJoin = await skippedNow(rig.client.kv);
      await withTraffic(rig, per, async () => {
        t1 = performance.now();
        nodes.set('a', startNode(rig, 'a'));
        await nodes.get('a')!.ready(60_000);
        down.delete('a');
        await sleep(3000);
      });
      handovers.push(...watcher.handovers(t1));
      replayedAfterHandover += await skippedSince(rig.client.kv, beforeJoin);
      await settleAndCheck(
        rig,
        'node joins',
        `${watcher.handovers(t1).length} hand-overs, pause p50 ${ms(pct(watcher.handovers(t1), 0.5))}`,
      );
    }

    if (want('sigstop')) {
      // SIGSTOP / SIGCONT of a serve node past the member timeout.
      await withTraffic(rig, per, async () => {
        nodes.get('b')!.child.kill('SIGSTOP');
        await sleep(5000);
        nodes.get('b')!.child.kill('SIGCONT');
      });
      const fenced = (await reports(rig.client.kv)).reduce((n, r) => n + (r.counts?.fenced ?? 0), 0);
      await settleAndCheck(rig, 'SIGSTOP 5 s / SIGCONT serve', `writes refused by the fence so far: ${fenced}`);
    }

    if (want('leave')) {
      // A node leaves gracefully (SIGTERM): drains, commits, releases.
      let t2 = 0;
      const beforeLeave = await skippedNow(rig.client.kv);
      await withTraffic(rig, per, async () => {
        t2 = performance.now();
        await nodes.get('c')!.stop('SIGTERM');
        down.add('c');
        await sleep(2000);
      });
      const leave = watcher.handovers(t2);
      handovers.push(...leave);
      replayedAfterHandover += await skippedSince(rig.client.kv, beforeLeave);
      await settleAndCheck(
        rig,
        'node leaves (SIGTERM)',
        `${leave.length} hand-overs, pause p50 ${ms(pct(leave, 0.5))}, max ${ms(pct(leave, 1))}`,
      );
    }

    if (want('rolling')) {
      // Rolling restart: each of the three serve nodes in turn stops with SIGTERM (drains, commits, releases) and
      // starts again with its local store; partitions move off it and back.
      for (const id of down) {
        nodes.set(id, startNode(rig, id));
        await nodes.get(id)!.ready(60_000);
      }
      down.clear();
      await rig.settled(120_000);
      const t4 = performance.now();
      const before = await skippedNow(rig.client.kv);
      // Replays are counted per process, and a restarted node's heartbeat replaces the old one's: note every
      // process's count before it goes.
      const seen = new Map(before);
      const note = async () => {
        for (const [k, v] of await skippedNow(rig.client.kv)) seen.set(k, v);
      };
      // Partitions lost (taken from a node thought dead: a late heartbeat), counted per process from here on.
      const lostLines = (n: ServeProcess) => (n.output().stderr.match(/lost partition/g) ?? []).length;
      const lostAtStart = new Map([...nodes].map(([id, n]) => [id, lostLines(n)]));
      let lostDuring = 0;
      await withTraffic(rig, per, async () => {
        for (const id of ['a', 'b', 'c']) {
          await note();
          lostDuring += lostLines(nodes.get(id)!) - (lostAtStart.get(id) ?? 0);
          await nodes.get(id)!.stop('SIGTERM');
          nodes.set(id, startNode(rig, id));
          await nodes.get(id)!.ready(60_000);
          await sleep(2000);
        }
      });
      await note();
      const rolled = watcher.handovers(t4);
      handovers.push(...rolled);
      let replayed = 0;
      for (const [k, v] of seen) replayed += v - (before.get(k) ?? 0);
      replayedAfterHandover += replayed;
      for (const n of nodes.values()) lostDuring += lostLines(n);
      await settleAndCheck(
        rig,
        'rolling restart (SIGTERM)',
        `${rolled.length} hand-overs, pause p50 ${ms(pct(rolled, 0.5))}, max ${ms(pct(rolled, 1))}; ${replayed} replayed, ${lostDuring} partitions taken from a node thought dead`,
      );
    }

    if (want('nats-kill')) {
      // kill -9 of one nats-server (R3 bucket and stream): the one leading the bucket's stream.
      const victim = await bucketLeader(rig);
      const count = () => ({
        retried: linesOf(rig, /; retrying$/gm),
        reads: linesOf(rig, /reading the key's state: .*; retrying$/gm),
        moved: linesOf(rig, /lost partition/g),
        restarted: linesOf(rig, /stopping the partition/g),
      });
      const before = count();
      let t3 = 0;
      await withTraffic(rig, per, async () => {
        t3 = performance.now();
        await stopServer(rig.nats.servers[victim]!, { signal: 'SIGKILL', keepDir: true });
        await sleep(12_000);
      });
      const stall = watcher.longestGap(t3, t3 + 12_000);
      stalls.push(stall);
      await rig.settled(180_000);
      const after = count();
      await settleAndCheck(
        rig,
        'kill -9 nats-server',
        `n${victim} (the bucket's leader) killed; longest pause between commits ${ms(stall)}; until settled: ${after.retried - before.retried} NATS requests retried (${after.reads - before.reads} of them state reads, each of which dropped a key's messages before the fix), ${after.moved - before.moved} partitions taken from a node thought dead, ${after.restarted - before.restarted} partitions restarted`,
      );
    }
  } finally {
    watcher.stop();
    await rig.stop();
    if (args.logs !== undefined) {
      mkdirSync(args.logs, { recursive: true });
      started.forEach(({ id, node }, i) => writeFileSync(join(args.logs!, `${i}-${id}.log`), node.output().stderr));
    }
  }
  return wakeP99;
}

/** Messages/s to drain `n` preloaded messages: cluster mode with `nodes` serve processes, or today's single mode. */
async function throughput(mode: 'single' | 'cluster', nodes: number, n: number): Promise<number> {
  const rig = await ClusterRig.start({ natsNodes: 1, partitions: PARTITIONS, heartbeatMs: 500, memberTimeoutMs: 3000 });
  try {
    if (mode === 'cluster') {
      await rig.publish(n, KEYS, 500, 0);
      const started = [...Array(nodes).keys()].map((i) => rig.startNode(`t${i}`));
      await Promise.all(started.map((s) => s.ready(60_000)));
      const t = performance.now();
      while (!(await rig.positionsReached())) await sleep(100);
      const rate = n / ((performance.now() - t) / 1000);
      await rig.settled(60_000);
      return rate;
    }
    // Single mode: the same counter per key on the plain subjects, through today's dispatcher (one serve).
    const { js, transport, jsm } = rig.client;
    for (let i = 0; i < n; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, n - i) }, (_, j) => {
          const h = transport.headers();
          h.set(KEY_HEADER, KEYS[(i + j) % KEYS.length]!);
          return js.publish(`${RIG_PREFIX}.count.inc`, encode({ by: 1 }), { headers: h });
        }),
      );
    }
    const file = `${rig.dir}/single.yaml`;
    writeFileSync(
      file,
      `queue: ${rig.url}\ndeadLetter: dead\nhibernation:\n  store: store-single\n  maxResident: 4096\nagents:\n  - name: counter\n    module: ${JSON.stringify(rig.options.module)}\n    subscribe: [count.>]\n    instances: per-key\n`,
    );
    const serve = startServe([file]);
    rig.nodes.set('single', serve);
    await serve.ready(60_000);
    const t = performance.now();
    for (;;) {
      const info = await jsm.consumers.info(RIG_STREAM, 'counter').catch(() => undefined);
      if (info !== undefined && info.num_pending + info.num_ack_pending === 0 && info.delivered.stream_seq >= n) break;
      await sleep(100);
    }
    return n / ((performance.now() - t) / 1000);
  } finally {
    await rig.stop();
  }
}

/** Kafka: 3 serve nodes in one consumer group (states in a 1-server NATS bucket); a kill -9, then a broker restart. */
const kafkaFailovers: number[] = [];
const kafkaHandovers: number[] = [];
let kafkaReplayed = 0;
async function kafkaMatrix(): Promise<void> {
  const why = missingReason('kafka');
  if (why !== undefined) {
    console.log(`  kafka scenarios skipped: ${why}`);
    return;
  }
  const [kafka, nats] = await Promise.all([startKafka(), startNats()]);
  const rig = await KafkaClusterRig.start({
    kafka: kafka.url,
    nats: nats.url,
    partitions: PARTITIONS,
    heartbeatMs: 500,
    memberTimeoutMs: 3000,
  });
  const half = Math.floor(MESSAGES / 2);
  try {
    const nodes = ['a', 'b', 'c'].map((id) => rig.startNode(id));
    await Promise.all(nodes.map((n) => n.ready(120_000)));
    await rig.publish(1000, KEYS, 200, 20);
    await rig.settled(120_000);
    const took = () =>
      nodes.slice(1).reduce((n, x) => n + (x.output().stderr.match(/took partition/g)?.length ?? 0), 0);
    // kill -9 of a serve node while messages flow: failover is the time until a survivor takes a partition of it.
    const publishing = rig.publish(half, KEYS, 200, 20);
    await sleep(1000);
    const before = took();
    const killedAt = performance.now();
    nodes[0]!.child.kill('SIGKILL');
    while (took() === before && performance.now() - killedAt < 60_000) await sleep(20);
    kafkaFailovers.push(performance.now() - killedAt);
    await publishing;
    await rig.settled(180_000);
    let { lost, duplicated } = await rig.check();
    rows.push({
      scenario: 'kafka: kill -9 of a serve',
      lost,
      duplicated,
      note: `first take of a dead node's partition after ${ms(kafkaFailovers[0]!)} (session timeout 6 s)`,
    });
    console.log(`  kafka kill -9: lost ${lost}, duplicated ${duplicated}; failover ${ms(kafkaFailovers[0]!)}`);
    // A node joins, then leaves with SIGTERM, while messages flow: the revoked partitions are drained, committed and
    // released, and the next owner starts from the commit (pause: release → take; replayed: skipped deliveries).
    const bucket = await openBucket({ servers: [nats.url.slice(7)], bucket: rig.bucket, replicas: 1, name: 'bench' });
    const watcher = new Watcher(bucket.kv, (key) => kafkaPartitionOf(key, PARTITIONS));
    await watcher.start();
    try {
      const beforeMoves = await skippedNow(bucket.kv);
      const t1 = performance.now();
      const joining = rig.publish(Math.floor(half / 2), KEYS, 200, 20);
      const d = rig.startNode('d');
      await d.ready(120_000);
      await joining;
      await rig.settled(180_000);
      const leaving = rig.publish(Math.floor(half / 2), KEYS, 200, 20);
      await sleep(500);
      const code = await d.stop('SIGTERM', 60_000);
      await leaving;
      await rig.settled(180_000);
      const pauses = watcher.handovers(t1);
      kafkaHandovers.push(...pauses);
      const replayed = await skippedSince(bucket.kv, beforeMoves);
      kafkaReplayed += replayed;
      ({ lost, duplicated } = await rig.check());
      rows.push({
        scenario: 'kafka: a node joins, then leaves (SIGTERM)',
        lost,
        duplicated,
        note: `${pauses.length} hand-overs, pause p50 ${ms(pct(pauses, 0.5))}, max ${ms(pct(pauses, 1))}; ${replayed} replayed; exit ${code}`,
      });
      console.log(`  kafka join/leave: lost ${lost}, duplicated ${duplicated}; ${rows.at(-1)!.note}`);
    } finally {
      watcher.stop();
      await bucket.nc.close();
    }
    // The broker restarts (SIGTERM, down 2 s) while messages flow: fetches and commits fail meanwhile (a failed
    // commit loses the partition), the group rejoins, and every key must still be exact.
    const publishing2 = rig.publish(MESSAGES - half, KEYS, 200, 20);
    await sleep(1000);
    const restartAt = performance.now();
    await restart(kafka, 2000);
    const restartMs = performance.now() - restartAt;
    await publishing2;
    const settleAt = performance.now();
    await rig.settled(240_000);
    ({ lost, duplicated } = await rig.check());
    rows.push({
      scenario: 'kafka: broker restart',
      lost,
      duplicated,
      note: `broker back after ${ms(restartMs)}; all committed ${ms(performance.now() - settleAt)} after the last publish`,
    });
    console.log(`  kafka broker restart: lost ${lost}, duplicated ${duplicated}; broker back after ${ms(restartMs)}`);
  } finally {
    await rig.stop();
    await Promise.all([stopServer(kafka), stopServer(nats)]);
  }
}

console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}; ${KEYS.length} keys, ${MESSAGES} messages per matrix`,
);
const kafkaOnly = args['kafka-only'];
const wakeP99 = args['skip-matrix'] || kafkaOnly ? null : await faultMatrix();
if (!args['skip-kafka']) await kafkaMatrix();
let scale3v1: number | null = null;
let clusterVsSingle: number | null = null;
if (!args['skip-throughput'] && !kafkaOnly) {
  const n = Math.max(5000, Math.floor(MESSAGES / 2));
  const single = await throughput('single', 1, n);
  const one = await throughput('cluster', 1, n);
  const three = await throughput('cluster', 3, n);
  clusterVsSingle = one / single;
  scale3v1 = three / one;
  console.log(
    `  throughput (${n} preloaded messages, 1 NATS server): single mode ${Math.round(single)}/s, cluster 1 process ${Math.round(one)}/s (${clusterVsSingle.toFixed(2)}×), cluster 3 processes ${Math.round(three)}/s (${scale3v1.toFixed(2)}× of 1)`,
  );
}
console.log('\n| scenario | lost | applied twice | notes |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.scenario} | ${r.lost} | ${r.duplicated} | ${r.note} |`);
console.log(
  `load average at the end ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log(
  JSON.stringify({
    suite: 'cluster',
    lost: rows.reduce((n, r) => n + r.lost, 0),
    duplicated: rows.reduce((n, r) => n + r.duplicated, 0),
    failoverP50Ms: pct(failovers, 0.5),
    failoverMaxMs: pct(failovers, 1),
    handoverP50Ms: pct(handovers, 0.5),
    replayedAfterHandover,
    stallMs: pct(stalls, 1),
    clusterVsSingle,
    scale3v1,
    wakeAfterTakeoverP99Ms: wakeP99,
    bucketReadAfterTakeoverP99Ms: readP99,
    kafkaFailoverMs: pct(kafkaFailovers, 1),
    kafkaHandoverP50Ms: pct(kafkaHandovers, 0.5),
    kafkaReplayedAfterHandover: kafkaReplayed,
  }),
);
process.exit(0);
