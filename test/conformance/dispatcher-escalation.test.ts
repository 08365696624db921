// Escalation in the dispatcher with the in-process store: failures past the threshold quarantine the agent, its messages are parked, it is released after the cooldown.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../runtime/ops/audit-log.ts';
import { decode, encode } from '../../runtime/codec.ts';
import { createQueue } from '../../runtime/queue/index.ts';
import { DEAD_LETTER_HEADERS, type QueueBackend, type QueueMessage } from '../../runtime/queue/types.ts';
import { Sandbox } from '../../runtime/sandbox.ts';
import { Dispatcher } from '../../runtime/swarm/dispatcher.ts';
import { MemoryFailureStore } from '../../runtime/swarm/escalation.ts';
import { agentPath, requireBuilt } from '../support/paths.ts';
import { fixtureAgent } from '../support/dispatcher-rig.ts';
import { waitFor } from '../support/wait-for.ts';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sliding window (in-process store)', () => {
  it('counts failures in the last window only, slice by slice', async () => {
    const store = new MemoryFailureStore({ bucketMs: 100, buckets: 10 });
    expect(await store.record('a', 0)).toBe(1);
    expect(await store.record('a', 50)).toBe(2);
    expect(await store.record('b', 50)).toBe(1);
    expect(await store.record('a', 950)).toBe(3);
    // At 1000 the slice [0,100) has left the window: the two failures in it no longer count.
    expect(await store.record('a', 1000)).toBe(2);
    expect(await store.record('a', 5000)).toBe(1);
  });
});

describe('dispatcher escalation (in-process store)', () => {
  it('quarantines after `threshold` failures, parks its messages, publishes alerts, releases after the cooldown', async () => {
    const queue: QueueBackend = await createQueue('memory');
    const sandbox = new Sandbox({ workers: 1 });
    const logs: string[] = [];
    const dispatcher = new Dispatcher({
      queue,
      sandbox,
      deadLetter: 'dead.letter',
      escalation: { window: 10_000, threshold: 3, cooldown: 400 },
      onLog: (l) => void logs.push(l),
    });
    cleanup = async () => {
      await dispatcher.stop();
      await queue.close();
      await sandbox.close();
    };
    const alerts: QueueMessage[] = [];
    const parked: QueueMessage[] = [];
    const dead: QueueMessage[] = [];
    await queue.subscribe('alerts.>', (m) => void alerts.push(m));
    await queue.subscribe('dead.letter.quarantine', (m) => void parked.push(m));
    await queue.subscribe('dead.letter', (m) => void dead.push(m));
    await dispatcher.addAgent(fixtureAgent('trap-unreachable', { name: 'trap', group: 'trap', maxDeliveries: 1 }));
    const before = Date.now();
    for (let i = 0; i < 3; i++) await queue.publish({ topic: 'in.x', payload: encode({ i }) });
    await waitFor('the condition', () => alerts.length === 1);
    expect(alerts[0]!.topic).toBe('alerts.quarantine');
    const event = decode(alerts[0]!.payload) as { agent: string; failures: number; window: number; until: number };
    expect(event).toMatchObject({ agent: 'trap', failures: 3, window: 10_000 });
    expect(event.until).toBeGreaterThanOrEqual(before + 400);
    expect(dead).toHaveLength(3); // the failed runs themselves went the usual way

    // While quarantined nothing runs: messages are parked with the reason.
    await queue.publish({ topic: 'in.y', payload: encode({ late: 1 }), key: 'k', headers: { 'x-id': 'p' } });
    await waitFor('the condition', () => parked.length === 1);
    expect(parked[0]!.headers[DEAD_LETTER_HEADERS.reason]).toBe('trap: quarantined');
    expect(parked[0]!.headers[DEAD_LETTER_HEADERS.topic]).toBe('in.y');
    expect(parked[0]!.headers['x-id']).toBe('p');
    expect(parked[0]!.key).toBe('k');
    expect(decode(parked[0]!.payload)).toEqual({ late: 1 });
    expect(dispatcher.stats()[0]).toMatchObject({ runs: { trap: 3 }, parked: 1, quarantines: 1 });
    // The quarantine in force, as the dashboard lists it.
    expect(dispatcher.quarantined()).toEqual([event]);

    await waitFor('the condition', () => alerts.length === 2);
    expect(Date.now() - before).toBeGreaterThanOrEqual(390);
    expect(alerts[1]!.topic).toBe('alerts.quarantine.released');
    expect(dispatcher.quarantined()).toEqual([]);
    // Released: the agent runs again.
    await queue.publish({ topic: 'in.z', payload: encode({ again: 1 }) });
    await waitFor('the condition', () => (dispatcher.stats()[0]!.runs.trap ?? 0) === 4);
    expect(parked).toHaveLength(1);
    expect(logs.filter((l) => /quarantined: 3 failures/.test(l))).toHaveLength(1);
    expect(logs.some((l) => /released/.test(l))).toBe(true);
  });

  it('gives a parked message an audit line (status quarantined, agent, message id, dead-letter topic) before its ack', async () => {
    const queue: QueueBackend = await createQueue('memory');
    const sandbox = new Sandbox({ workers: 1 });
    const file = join(mkdtempSync(join(tmpdir(), 'audit-park-')), 'audit.ndjson');
    const audit = new AuditLog({ file, batch: true });
    const linesAtPark: number[] = [];
    const dispatcher = new Dispatcher({
      queue,
      sandbox,
      deadLetter: 'dl',
      escalation: { window: 10_000, threshold: 2, cooldown: 60_000 },
      onLog: () => {},
      onRun: (agent, message, result) => audit.record(agent, message, result),
      onParked: async (agent, message, topic) => {
        await audit.recordParked(agent, message, topic);
        linesAtPark.push(readFileSync(file, 'utf8').trimEnd().split('\n').length);
      },
    });
    cleanup = async () => {
      await dispatcher.stop();
      await queue.close();
      await sandbox.close();
      audit.close();
    };
    const parked: QueueMessage[] = [];
    await queue.subscribe('dl.quarantine', (m) => void parked.push(m));
    await dispatcher.addAgent(fixtureAgent('trap-unreachable', { name: 'trap', group: 'trap', maxDeliveries: 1 }));
    for (let i = 0; i < 2; i++) await queue.publish({ topic: 'in.x', payload: encode({ i }) });
    await waitFor('the condition', () => dispatcher.stats()[0]!.quarantines === 1);
    const late = { topic: 'in.late', payload: encode({ late: true }), headers: { 'x-message-id': 'late-1' } };
    await queue.publish(late);
    await waitFor('the condition', () => parked.length === 1);
    await dispatcher.whenIdle(20);
    const lines = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.msg === 'run')).toHaveLength(2);
    const parkedLine = lines.find((l) => l.msg === 'parked');
    expect(parkedLine).toMatchObject({
      agent: 'trap',
      status: 'quarantined',
      messageId: 'late-1',
      topic: 'in.late',
      deliveryCount: 1,
      deadLetterTopic: 'dl.quarantine',
    });
    // The line was in the file when onParked resolved, i.e. before the ack.
    expect(linesAtPark).toEqual([3]);
    expect(parked[0]!.headers['x-message-id']).toBe('late-1');
  });

  it('awaits a promise from onRun before settling, and naks the message when it rejects', async () => {
    const queue: QueueBackend = await createQueue('memory');
    const sandbox = new Sandbox({ workers: 1 });
    let calls = 0;
    const settledBefore: number[] = [];
    const dispatcher = new Dispatcher({
      queue,
      sandbox,
      deadLetter: 'dl',
      onLog: () => {},
      onRun: async (_agent, _message, _result, timing) => {
        calls++;
        expect(timing.waitMs).toBeGreaterThanOrEqual(0);
        await sleep(30);
        settledBefore.push(dispatcher.stats()[0]!.acked + dispatcher.stats()[0]!.retried);
        if (calls === 1) throw new Error('disk full');
      },
    });
    cleanup = async () => {
      await dispatcher.stop();
      await queue.close();
      await sandbox.close();
    };
    await dispatcher.addAgent({
      name: 'echo',
      module: requireBuilt(agentPath('echo')),
      limits: {},
      subscribe: ['in.>'],
      group: 'echo',
      concurrency: 1,
      maxDeliveries: 3,
      backoffMs: 5,
    });
    await queue.publish({ topic: 'in.x', payload: encode({ x: 1 }) });
    await waitFor('the condition', () => dispatcher.stats()[0]!.acked === 1);
    // First delivery: onRun rejected, so the queue nak'd it and it ran again; nothing was settled before onRun ended.
    expect(calls).toBe(2);
    expect(settledBefore).toEqual([0, 0]);
    expect(dispatcher.stats()[0]!.runs.ok).toBe(2);
    const span = dispatcher.span();
    expect(span.messages).toBe(2);
    expect(span.lastAt! - span.firstAt!).toBeGreaterThan(50);
  });
});
