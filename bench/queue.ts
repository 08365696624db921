// Queue benchmark: memory publish→deliver msgs/s, and the NATS and Kafka backends against their raw clients on one server.
import { createQueue, type QueueBackend } from '../runtime/queue/index.ts';
import { missingReason, startService, stop, type ServiceInfo } from '../test/support/services.ts';

const payload = new Uint8Array(64).fill(7);
const TOPIC_HEADER = Buffer.from('sandbox-topic');
const rows: string[][] = [];
/** Kafka, a one-token topic (no sandbox-topic header) vs the raw client. */
let plainRatio: number | null = null;

function rate(n: number, ms: number): number {
  return Math.round(n / (ms / 1000));
}

async function until(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Publishes n messages in batches while one subscriber consumes them; the clock stops at the last delivery. */
async function backendRun(q: QueueBackend, topic: string, n: number, batch: number, settleMs: number): Promise<number> {
  let got = 0;
  const sub = await q.subscribe(
    topic,
    () => {
      got++;
    },
    { group: `bench-${Date.now()}`, prefetch: 1024, concurrency: 1 },
  );
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  const messages = Array.from({ length: batch }, () => ({ topic, payload }));
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) await q.publishMany(i + batch <= n ? messages : messages.slice(0, n - i));
  await until('deliveries', () => got >= n, 300_000);
  const ms = performance.now() - t0;
  await sub.close();
  return rate(n, ms);
}

async function memory(): Promise<number> {
  const n = Number(process.env.BENCH_QUEUE_MEMORY_N ?? 5_000_000);
  const results: number[] = [];
  for (let run = 0; run < 3; run++) {
    const q = await createQueue('memory');
    results.push(await backendRun(q, 'bench.memory', n, 1000, 0));
    await q.close();
  }
  results.sort((a, b) => a - b);
  const median = results[1]!;
  rows.push([
    'memory',
    'publishMany(1000) → sync handler',
    String(n),
    median.toLocaleString('en-US'),
    '',
    `median of 3 (${results.map((r) => r.toLocaleString('en-US')).join(', ')})`,
  ]);

  // A publisher that awaits every publish, for reference.
  const q = await createQueue('memory');
  let got = 0;
  const sub = await q.subscribe('bench.single', () => {
    got++;
  });
  const single = Math.min(n, 2_000_000);
  const m = { topic: 'bench.single', payload };
  const t0 = performance.now();
  for (let i = 0; i < single; i++) await q.publish(m);
  await until('deliveries', () => got >= single, 60_000);
  const singleRate = rate(single, performance.now() - t0);
  await sub.close();
  await q.close();
  rows.push([
    'memory',
    'await publish() each → sync handler',
    String(single),
    singleRate.toLocaleString('en-US'),
    '',
    '',
  ]);
  return median;
}

async function natsRaw(info: ServiceInfo, n: number, window: number, round: number): Promise<number> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager, AckPolicy } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: `127.0.0.1:${info.port}` });
  const jsm = await jetstreamManager(nc);
  if (round === 0) await jsm.streams.add({ name: 'RAW', subjects: ['raw.>'] });
  await jsm.consumers.add('RAW', {
    durable_name: `raw${round}`,
    ack_policy: AckPolicy.Explicit,
    filter_subject: `raw.bench${round}`,
  });
  const js = jetstream(nc);
  const consumer = await js.consumers.get('RAW', `raw${round}`);
  let got = 0;
  const messages = await consumer.consume({ max_messages: 1024 });
  const consuming = (async () => {
    for await (const m of messages) {
      m.ack();
      if (++got >= n) break;
    }
  })();
  const t0 = performance.now();
  let inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    inFlight.push(js.publish(`raw.bench${round}`, payload));
    if (inFlight.length >= window) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
  await consuming;
  const result = rate(n, performance.now() - t0);
  await messages.close();
  await nc.drain();
  return result;
}

/** `withHeader`: each record also carries a `sandbox-topic` header, as the backend's records do (it multiplexes
 *  sandbox topics on one Kafka topic), to show what that header costs the client itself. */
async function kafkaRaw(
  info: ServiceInfo,
  n: number,
  batch: number,
  round: number,
  withHeader = false,
): Promise<number> {
  const kafka = await import('@platformatic/kafka');
  const brokers = [`127.0.0.1:${info.port}`];
  const admin = new kafka.Admin({ clientId: 'raw-admin', bootstrapBrokers: brokers });
  const topic = `raw-bench${round}${withHeader ? 'h' : ''}`;
  await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
  await admin.close();
  const producer = new kafka.Producer({
    clientId: 'raw-producer',
    bootstrapBrokers: brokers,
    idempotent: true,
    acks: kafka.ProduceAcks.ALL,
  });
  const consumer = new kafka.Consumer({
    clientId: 'raw-consumer',
    bootstrapBrokers: brokers,
    groupId: `raw-${Date.now()}`,
    maxWaitTime: 200,
    highWaterMark: 1024,
  });
  const stream = await consumer.consume({
    topics: [topic],
    mode: kafka.MessagesStreamModes.COMMITTED,
    fallbackMode: kafka.MessagesStreamFallbackModes.EARLIEST,
    autocommit: 100,
  });
  let got = 0;
  stream.on('data', () => {
    got++;
  });
  await new Promise((r) => setTimeout(r, 500));
  // Fresh records for every send, as a producer of real messages makes them (and as the backend does): the client
  // writes into the records it is given, so one reused array would measure less work than the backend does.
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const records = Array.from({ length: Math.min(batch, n - i) }, () =>
      withHeader
        ? { topic, value: Buffer.from(payload), headers: new Map([[TOPIC_HEADER, Buffer.from(`${topic}.x`)]]) }
        : { topic, value: Buffer.from(payload) },
    );
    await producer.send({ messages: records });
  }
  await until('raw kafka deliveries', () => got >= n, 300_000);
  const result = rate(n, performance.now() - t0);
  await stream.close();
  await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  await producer.close();
  return result;
}

async function server(kind: 'nats' | 'kafka'): Promise<number | null> {
  const missing = missingReason(kind);
  if (missing !== undefined) {
    rows.push([kind, 'skipped', '', '', '', missing]);
    return null;
  }
  const info = await startService(kind);
  try {
    const n = Number(process.env[`BENCH_QUEUE_${kind.toUpperCase()}_N`] ?? (kind === 'nats' ? 50_000 : 100_000));
    // Alternate raw and backend runs and keep each one's best: on two shared cores with the broker's JVM beside
    // us, a single pair of runs mostly measures noise.

    // Round 0 is a smaller warm-up of both (JIT, the broker's own warm-up) and is not counted.
    const raws: number[] = [];
    const ourRuns: number[] = [];
    const rawCpu: number[] = [];
    const ourCpu: number[] = [];
    const headerRuns: number[] = [];
    const headerCpu: number[] = [];
    const plainRuns: number[] = [];
    const plainCpu: number[] = [];
    for (let round = 0; round < 3; round++) {
      const count = round === 0 ? Math.ceil(n / 5) : n;
      const rawRun = () => (kind === 'nats' ? natsRaw(info, count, 512, round) : kafkaRaw(info, count, 1000, round));
      // Kafka: a two-token topic, whose records carry the sandbox-topic header, and (plainRun) a one-token topic,
      // whose records carry none (docs/queue.md, "Record format").
      const ourRun = async (topic = kind === 'nats' ? `bench.ours${round}` : `benchours${round}.x`) => {
        const q = await createQueue(info.url);
        const rate = await backendRun(q, topic, count, 1000, kind === 'kafka' ? 500 : 0);
        await q.close();
        return rate;
      };
      const plainRun = () => ourRun(`benchplain${round}`);
      // This process's CPU time per message (both clients run here; the broker is another process): steadier than
      // the rate when other jobs share the cores, since it does not count the time this process waits for a core.
      const withCpu = async (run: () => Promise<number>): Promise<[number, number]> => {
        const before = process.cpuUsage();
        const rate = await run();
        const used = process.cpuUsage(before);
        return [rate, (used.user + used.system) / count];
      };
      // Which goes first alternates: the second of a pair runs on a broker still busy with the first's writes.
      let r: [number, number];
      let o: [number, number];
      if (round % 2 === 1) {
        r = await withCpu(rawRun);
        o = await withCpu(() => ourRun());
      } else {
        o = await withCpu(() => ourRun());
        r = await withCpu(rawRun);
      }
      const h = kind === 'kafka' ? await withCpu(() => kafkaRaw(info, count, 1000, round, true)) : undefined;
      const p = kind === 'kafka' ? await withCpu(plainRun) : undefined;
      if (round > 0) {
        raws.push(r[0]);
        ourRuns.push(o[0]);
        rawCpu.push(r[1]);
        ourCpu.push(o[1]);
        if (h !== undefined) {
          headerRuns.push(h[0]);
          headerCpu.push(h[1]);
        }
        if (p !== undefined) {
          plainRuns.push(p[0]);
          plainCpu.push(p[1]);
        }
      }
    }
    const cpu = (us: number[]) => `CPU ${us.map((u) => u.toFixed(1)).join(', ')} µs/msg`;
    const raw = Math.max(...raws);
    const ours = Math.max(...ourRuns);
    const ratio = Math.round((ours / raw) * 100) / 100;
    rows.push([
      kind,
      'raw client: publish (acked) → consume + ack',
      String(n),
      raw.toLocaleString('en-US'),
      '',
      `best of ${raws.map((r) => r.toLocaleString('en-US')).join(', ')}; ${cpu(rawCpu)}`,
    ]);
    if (headerRuns.length > 0) {
      rows.push([
        kind,
        'raw client, records with a sandbox-topic header',
        String(n),
        Math.max(...headerRuns).toLocaleString('en-US'),
        `${Math.round((Math.max(...headerRuns) / raw) * 100) / 100}×`,
        `best of ${headerRuns.map((r) => r.toLocaleString('en-US')).join(', ')}; ${cpu(headerCpu)}; what the header alone costs`,
      ]);
    }
    rows.push([
      kind,
      kind === 'kafka'
        ? 'QueueBackend: publishMany → subscribe (group), topic a.b (header)'
        : 'QueueBackend: publishMany → subscribe (group)',
      String(n),
      ours.toLocaleString('en-US'),
      `${ratio}×`,
      `best of ${ourRuns.map((r) => r.toLocaleString('en-US')).join(', ')}; ${cpu(ourCpu)}; target ≥ 0.8×`,
    ]);
    if (plainRuns.length > 0) {
      const plain = Math.max(...plainRuns);
      plainRatio = Math.round((plain / raw) * 100) / 100;
      rows.push([
        kind,
        'QueueBackend: publishMany → subscribe (group), topic a (no header)',
        String(n),
        plain.toLocaleString('en-US'),
        `${plainRatio}×`,
        `best of ${plainRuns.map((r) => r.toLocaleString('en-US')).join(', ')}; ${cpu(plainCpu)}; target ≥ 0.8×`,
      ]);
    }
    return ratio;
  } finally {
    await stop(info);
  }
}

const memoryPerSec = await memory();
const natsRatio = await server('nats');
const kafkaRatio = await server('kafka');

const header = ['backend', 'what', 'messages', 'msgs/s', 'vs raw', 'note'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
const line = (cells: string[]): string =>
  cells
    .map((c, i) => c.padEnd(widths[i]!))
    .join('  ')
    .trimEnd();
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
console.log(
  JSON.stringify({
    suite: 'queue',
    memoryPerSec,
    natsRatio,
    kafkaRatio,
    kafkaPlainRatio: plainRatio,
    triagePerSec: null,
  }),
);
