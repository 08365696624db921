// Admission in the dispatcher over the memory queue: the inbox bound under a flood, rate limits, shedding that never drops.
import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '../../runtime/codec.ts';
import type { Sandbox } from '../../runtime/sandbox.ts';
import type { DispatcherOptions } from '../../runtime/swarm/dispatcher.ts';
import type { AgentSpec } from '../../runtime/swarm/topology.ts';
import { startRig, stopRig, type Rig } from '../support/dispatcher-rig.ts';
import { fixturePath } from '../support/paths.ts';

/** The echo-input fixture as agent `echo`. */
function setup(spec: Partial<AgentSpec>, options: Partial<DispatcherOptions> = {}): Promise<Rig> {
  return startRig('echo-input', { name: 'echo', group: 'echo', ...spec }, options);
}

afterEach(stopRig);

/** Counts runs at once by wrapping the agents' runEncoded (shared prototype) for the test's duration. */
async function watchRuns(sandbox: Sandbox): Promise<{ peak: () => number; restore: () => void }> {
  const probe = await sandbox.load(fixturePath('echo-input'));
  const proto = Object.getPrototypeOf(probe) as { runEncoded: (b: Uint8Array) => Promise<unknown> };
  probe.close();
  const run = proto.runEncoded;
  let running = 0;
  let peak = 0;
  proto.runEncoded = async function (this: unknown, bytes: Uint8Array) {
    running++;
    peak = Math.max(peak, running);
    try {
      return await run.call(this, bytes);
    } finally {
      running--;
    }
  };
  return { peak: () => peak, restore: () => void (proto.runEncoded = run) };
}

describe('dispatcher admission (memory queue)', () => {
  it('under a flood, never holds more than the inbox: runs at once and the inbox peak stay at the bound', async () => {
    const { queue, dispatcher, sandbox, dead } = await setup({ inbox: 4 });
    const watch = await watchRuns(sandbox);
    try {
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => queue.publish({ topic: 'in.x', payload: encode(i), key: `k${i}` })),
      );
      await dispatcher.whenIdle(50);
    } finally {
      watch.restore();
    }
    const [stats] = dispatcher.stats();
    expect(stats).toMatchObject({ acked: 1000, shed: 0, inbox: 0 });
    expect(stats!.inboxPeak).toBe(4);
    expect(watch.peak()).toBeLessThanOrEqual(4);
    expect(watch.peak()).toBeGreaterThan(1);
    expect(dead).toHaveLength(0);
  });

  it('an agent rate holds messages until their tokens are due', async () => {
    const { queue, dispatcher } = await setup({ rate: 100, burst: 5 });
    const started = Date.now();
    for (let i = 0; i < 60; i++) await queue.publish({ topic: 'in.x', payload: encode(i) });
    await dispatcher.whenIdle(20);
    const elapsed = Date.now() - started - 20;
    const [stats] = dispatcher.stats();
    expect(stats).toMatchObject({ acked: 60, shed: 0 });
    // 5 at once, then 55 at 100/s.
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(stats!.throttled).toBeGreaterThanOrEqual(50);
    expect(stats!.throttledMs).toBeGreaterThan(0);
  });

  it('sheds messages whose token is too far off (nak with delay), counts and logs it, and drops none', async () => {
    // maxDeliveries 2: a shed message comes back on its last delivery and must then be held, not shed again.
    const { queue, dispatcher, dead, logs } = await setup(
      { inbox: 16, maxDeliveries: 2 },
      { admission: { rate: 25, burst: 1, maxWaitMs: 100 } },
    );
    const started = Date.now();
    for (let i = 0; i < 25; i++) await queue.publish({ topic: 'in.x', payload: encode(i) });
    await dispatcher.whenIdle(50);
    const elapsed = Date.now() - started - 50;
    const [stats] = dispatcher.stats();
    expect(stats!.acked).toBe(25);
    expect(stats!.runs).toEqual({ ok: 25 });
    expect(stats!.shed).toBeGreaterThan(0);
    expect(stats!.inboxPeak).toBeLessThanOrEqual(16);
    expect(dead).toHaveLength(0);
    expect(elapsed).toBeGreaterThanOrEqual(800); // 1 + 24 at 25/s
    expect(logs.some((l) => /admission: echo shed \d+ message/.test(l))).toBe(true);
  });
});
