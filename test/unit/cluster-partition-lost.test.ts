// A partition consumer whose source refuses a position commit (a failed Kafka offset commit) stops the partition: it is lost, and the next owner replays from the last commit; other commit errors are retried.
import { describe, expect, it, vi } from 'vitest';
import {
  newClusterCounts,
  PartitionConsumer,
  type PartitionContext,
} from '../../runtime/cluster/partition-consumer.ts';
import {
  PartitionLost,
  type LogMessage,
  type LogReader,
  type PartitionLog,
} from '../../runtime/cluster/partition-log.ts';
import type { AgentSpec } from '../../runtime/swarm/topology.ts';

/** A log that offers `n` messages no agent subscribes to (each done at once) and whose commits fail with `failure`. */
class FakeLog implements PartitionLog {
  commits: number[] = [];
  closed = false;
  constructor(
    private readonly n: number,
    private readonly failure: () => Error,
  ) {}
  open(from: number, reader: LogReader): Promise<void> {
    for (let seq = from + 1; seq <= from + this.n; seq++) {
      const m: LogMessage = {
        seq,
        topic: 'other.topic',
        key: 'k',
        payload: new Uint8Array(),
        headers: () => ({}),
        pending: 0,
      };
      reader.offer(m);
    }
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  publish(): Promise<void> {
    return Promise.resolve();
  }
  deadLetter(): Promise<void> {
    return Promise.resolve();
  }
  commit(position: number): Promise<void> {
    this.commits.push(position);
    return Promise.reject(this.failure());
  }
}

function context(logged: string[]): PartitionContext {
  // No agent matches the fake log's topic: nothing runs, so states, sandbox and bucket are never touched.
  return {
    agents: [{ spec: {} as AgentSpec, matches: () => false, keyed: {} as never }],
    states: {} as never,
    leaderStates: {} as never,
    sandbox: {} as never,
    counts: newClusterCounts(),
    stillOwner: () => Promise.resolve(true),
    checkBase: () => Promise.resolve(),
    log: (message) => logged.push(message),
  };
}

describe('partition consumer commits', () => {
  it('stops the partition when its source refuses the commit (PartitionLost)', async () => {
    const logged: string[] = [];
    const log = new FakeLog(5, () => new PartitionLost(3, 'the Kafka offset commit failed'));
    const consumer = new PartitionConsumer(context(logged), 3, 1, 10, log);
    await consumer.start();
    expect(consumer.committed).toBe(15);
    await vi.waitFor(
      () => {
        expect(consumer.lost).toBe(true);
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(log.commits).toEqual([15]);
    expect(log.closed).toBe(true);
    expect(logged.join('\n')).toMatch(/committing position 15 failed: .*partition 3 is lost/);
  });

  it('keeps the partition and tries again when a commit fails otherwise (NATS: the bucket briefly away)', async () => {
    const log = new FakeLog(2, () => new Error('timeout'));
    const consumer = new PartitionConsumer(context([]), 0, 1, 0, log);
    await consumer.start();
    await vi.waitFor(
      () => {
        expect(log.commits.length).toBeGreaterThanOrEqual(2);
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(consumer.lost).toBe(false);
    expect(log.commits.every((p) => p === 2)).toBe(true);
    consumer.abort();
  });
});
