// The queue backends' shared subscriber core: when an offered delivery reaches its handler.
import { describe, expect, it } from 'vitest';
import { Delivery, resolveSubscribeOptions, SubscriberCore, type DispatchHooks } from '../../runtime/queue/dispatch.ts';

const hooks = (done: Delivery[]): DispatchHooks => ({
  kind: 'memory',
  done: (d) => done.push(d),
  redeliver: (d) => new Delivery(d.topic, d.payload, d.key, d.headers, d.deliveryCount + 1, d.ref),
  deadLetter: () => Promise.resolve(),
});

function offer(core: SubscriberCore, n: number, key?: string): void {
  for (let i = 0; i < n; i++) core.offer(new Delivery('t', Uint8Array.of(i), key, {}, 1, i));
}

describe('SubscriberCore', () => {
  it('delivers on the next event-loop turn by default, so a publisher in this process fills a batch first', async () => {
    const seen: number[] = [];
    const core = new SubscriberCore(resolveSubscribeOptions({ concurrency: 4 }), hooks([]), 64, false);
    core.addMember((m) => void seen.push(m.payload[0]!), 4, 64, true);
    offer(core, 3);
    expect(seen).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([0, 1, 2]);
  });

  it('with deliverAtOnce hands each delivery to a free handler inside offer(), and acks it there', async () => {
    const seen: number[] = [];
    const done: Delivery[] = [];
    const core = new SubscriberCore(resolveSubscribeOptions({ concurrency: 4 }), hooks(done), 64, false, true);
    await new Promise((r) => setImmediate(r)); // the member's first pump
    core.addMember((m) => void seen.push(m.payload[0]!), 4, 64, true);
    await new Promise((r) => setImmediate(r));
    offer(core, 3);
    expect(seen).toEqual([0, 1, 2]);
    expect(done.map((d) => d.ref)).toEqual([0, 1, 2]);
    expect(core.held).toBe(0);
  });

  it('with deliverAtOnce still holds a key behind its unsettled delivery and keeps order', async () => {
    const seen: number[] = [];
    const pending: (() => void)[] = [];
    const core = new SubscriberCore(resolveSubscribeOptions({ concurrency: 4 }), hooks([]), 64, false, true);
    core.addMember(
      (m) => {
        seen.push(m.payload[0]!);
        return new Promise<void>((resolve) => pending.push(resolve));
      },
      4,
      64,
      true,
    );
    await new Promise((r) => setImmediate(r));
    offer(core, 3, 'k');
    expect(seen).toEqual([0]);
    pending.shift()!();
    // The settlement runs as a microtask and schedules the next pump: two turns.
    for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([0, 1]);
  });
});
