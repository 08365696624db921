// Kafka partitions: keyed records from our backend land where a Java producer (Kafka's console producer) puts the same keys, and a clustered topology's topic gets, and must have, cluster.partitions.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { readKafkaPositions } from '../../runtime/cluster/kafka-positions.ts';
import { KafkaQueue } from '../../runtime/queue/kafka.ts';
import { kafkaPartitionOf } from '../../runtime/queue/murmur2.ts';
import { runCli } from '../support/cli.ts';
import { agentPath } from '../support/paths.ts';
import { startServe } from '../support/serve-process.ts';
import { kafkaJava, serviceSlot, skipReason, stop, type ServiceInfo, type ServiceSlot } from '../support/services.ts';

const provided = inject('queueServices') as { nats: ServiceSlot; kafka: ServiceSlot } | undefined;
const ownServers: ServiceInfo[] = [];
const missing = skipReason('kafka');
afterAll(async () => {
  await Promise.all(ownServers.map((info) => stop(info)));
});

/** Runs Kafka's console producer (the Java client, its default partitioner) with `key:value` lines on stdin. */
function javaProduce(brokers: string, topic: string, lines: string[]): Promise<void> {
  const { java, classpath } = kafkaJava()!;
  return new Promise((resolve, reject) => {
    const child = spawn(
      java,
      [
        '-Xmx128m',
        '-XX:TieredStopAtLevel=1',
        '-cp',
        classpath,
        'kafka.tools.ConsoleProducer',
        '--bootstrap-server',
        brokers,
        '--topic',
        topic,
        '--property',
        'parse.key=true',
        '--property',
        'key.separator=:',
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`console producer exited ${String(code)}: ${stderr}`));
    });
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}

describe.skipIf(missing !== undefined)('Kafka keyed partitioning', () => {
  it('puts every key where the Java producer puts it (toPositive(murmur2) % partitions)', async () => {
    const slot = await serviceSlot('kafka', provided, ownServers);
    if (slot.info === undefined) throw new Error(slot.missing);
    const brokers = slot.info.url.slice('kafka://'.length);
    const partitions = 7;
    const queue = await KafkaQueue.connect({ brokers, partitions });
    const tag = `${process.pid}${Date.now().toString(36)}`;
    try {
      // Key i is published (i % 4) + 1 times: per-partition totals then depend on where each key went.
      const keys = Array.from({ length: 150 }, (_, i) => `customer-${i}-é`);
      const records = keys.flatMap((key, i) => Array.from({ length: (i % 4) + 1 }, () => key));
      const ours = `sandbox-ours${tag}`;
      const theirs = `sandbox-java${tag}`;
      await queue.ensureTopic(theirs);
      await queue.publishMany(records.map((key) => ({ topic: `ours${tag}.x`, payload: new Uint8Array([1]), key })));
      await javaProduce(
        brokers,
        theirs,
        records.map((key) => `${key}:1`),
      );
      const expected = new Array<number>(partitions).fill(0);
      for (const key of records) expected[kafkaPartitionOf(key, partitions)]!++;
      const highs = async (topic: string) =>
        (await readKafkaPositions([brokers], topic, `unused-${tag}`)).map((p) => p.high);
      expect(await highs(theirs)).toEqual(expected);
      expect(await highs(ours)).toEqual(expected);
    } finally {
      await queue.close();
    }
  }, 120_000);

  it('`sandbox publish --config` of a clustered Kafka topology creates the topic with the cluster partitions', async () => {
    const slot = await serviceSlot('kafka', provided, ownServers);
    if (slot.info === undefined) throw new Error(slot.missing);
    const tag = `${process.pid}${Date.now().toString(36)}`;
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-kafka-publish-'));
    try {
      const yaml = join(dir, 'sandbox.yaml');
      writeFileSync(
        yaml,
        `queue: ${slot.info.url}\nhibernation:\n  store: state\ncluster:\n  nats: nats://127.0.0.1:4222\n  partitions: 5\nagents:\n  - name: counter\n    module: ${JSON.stringify(agentPath('counter'))}\n    subscribe: [pub${tag}.>]\n    instances: per-key\n`,
      );
      const run = await runCli(['publish', `pub${tag}.inc`, '{"by": 1}', '--key', 'alice', '--config', yaml]);
      expect(run.code, run.stderr).toBe(0);
      const positions = await readKafkaPositions([slot.info.url.slice('kafka://'.length)], `sandbox-pub${tag}`, 'none');
      expect(positions.map((p) => p.high)).toEqual(
        Array.from({ length: 5 }, (_, p) => (p === kafkaPartitionOf('alice', 5) ? 1 : 0)),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('`sandbox serve` refuses a Kafka topic whose partition count is not cluster.partitions (exit 2, stable code)', async () => {
    const kafka = await serviceSlot('kafka', provided, ownServers);
    const nats = await serviceSlot('nats', provided, ownServers);
    if (kafka.info === undefined || nats.info === undefined) throw new Error(kafka.missing ?? nats.missing);
    const tag = `${process.pid}${Date.now().toString(36)}`;
    const queue = await KafkaQueue.connect({ brokers: kafka.info.url.slice('kafka://'.length), partitions: 3 });
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-kafka-serve-'));
    try {
      await queue.ensureTopic(`sandbox-bad${tag}`);
      const yaml = join(dir, 'sandbox.yaml');
      writeFileSync(
        yaml,
        `queue: ${kafka.info.url}\nhibernation:\n  store: state\ncluster:\n  bucket: bad-${tag}\n  nats: ${nats.info.url}\n  partitions: 5\nagents:\n  - name: counter\n    module: ${JSON.stringify(agentPath('counter'))}\n    subscribe: [bad${tag}.>]\n    instances: per-key\n`,
      );
      const serve = startServe([yaml, '--json']);
      expect(await serve.exited).toBe(2);
      expect(serve.output().stdout).toMatch(
        /"code":"SANDBOX_INVALID_OPTIONS".*has 3 partitions but cluster.partitions is 5/,
      );
    } finally {
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
