// Per-key instances without workers: one load per key however many ask, turns in arrival order, bounded bookkeeping.
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../runtime/agent/agent.ts';
import { SandboxError } from '../../runtime/errors.ts';
import type { LoadOptions, Sandbox } from '../../runtime/sandbox.ts';
import { KeyedInstances } from '../../runtime/swarm/keyed-instances.ts';

/** A stand-in Sandbox whose loads the test settles by hand. */
function fakeSandbox() {
  const loads: { key: string | undefined; settle: (error?: Error) => void }[] = [];
  const closed: string[] = [];
  const sandbox = {
    load: (_source: Uint8Array, options: LoadOptions) =>
      new Promise<Agent>((resolve, reject) => {
        loads.push({
          key: options.key,
          settle: (error) =>
            error
              ? reject(error)
              : resolve({ name: options.name, close: () => void closed.push(options.key!) } as unknown as Agent),
        });
      }),
  } as unknown as Sandbox;
  return { sandbox, loads, closed };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('KeyedInstances', () => {
  it('loads a key once however many ask while it loads, with the key <agent>/<key>', async () => {
    const { sandbox, loads } = fakeSandbox();
    const keyed = new KeyedInstances(sandbox, 'counter', new Uint8Array(), {}, 4);
    const first = keyed.agent('alice');
    const second = keyed.agent('alice');
    expect(second).toBe(first);
    expect(loads.map((l) => l.key)).toEqual(['counter/alice']);
    loads[0]!.settle();
    const agent = await first;
    expect(await second).toBe(agent);
    expect(keyed.agent('alice')).toBe(agent); // loaded: no promise at all
    expect(keyed.size).toBe(1);
  });

  it('a failed load rejects everyone who waited for it, and the next message tries again', async () => {
    const { sandbox, loads } = fakeSandbox();
    const keyed = new KeyedInstances(sandbox, 'counter', new Uint8Array(), {}, 4);
    const a = keyed.agent('bob') as Promise<Agent>;
    const b = keyed.agent('bob') as Promise<Agent>;
    loads[0]!.settle(new SandboxError('SANDBOX_STATE_MISMATCH', 'another module'));
    await expect(a).rejects.toMatchObject({ code: 'SANDBOX_STATE_MISMATCH' });
    await expect(b).rejects.toMatchObject({ code: 'SANDBOX_STATE_MISMATCH' });
    expect(keyed.size).toBe(0);
    const again = keyed.agent('bob') as Promise<Agent>;
    expect(loads).toHaveLength(2);
    loads[1]!.settle();
    await expect(again).resolves.toBeDefined();
  });

  it('closes a key that finishes loading after close, and every loaded key on close', async () => {
    const { sandbox, loads, closed } = fakeSandbox();
    const keyed = new KeyedInstances(sandbox, 'c', new Uint8Array(), {}, 4);
    const done = keyed.agent('x') as Promise<Agent>;
    loads[0]!.settle();
    await done;
    const late = keyed.agent('y') as Promise<Agent>;
    keyed.close();
    expect(closed).toEqual(['c/x']);
    loads[1]!.settle();
    await expect(late).rejects.toMatchObject({ code: 'SANDBOX_CLOSED' });
    expect(closed).toEqual(['c/x', 'c/y']);
  });

  it("gives a key's turns in the order they were asked for, and forgets a key once nobody holds it", async () => {
    const keyed = new KeyedInstances(fakeSandbox().sandbox, 'c', new Uint8Array(), {}, 4);
    const order: string[] = [];
    expect(keyed.turn('k')).toBeUndefined();
    const waits = ['m2', 'm3', 'm4'].map((m) => (keyed.turn('k') as Promise<void>).then(() => void order.push(m)));
    expect(keyed.turn('other')).toBeUndefined(); // another key is not held up
    await tick();
    expect(order).toEqual([]);
    for (let i = 0; i < 3; i++) {
      keyed.release('k');
      await tick();
    }
    await Promise.all(waits);
    expect(order).toEqual(['m2', 'm3', 'm4']);
    expect(keyed.heldTurns).toBe(2);
    keyed.release('k');
    keyed.release('other');
    expect(keyed.heldTurns).toBe(0);
  });

  it('bounds the runs handed out at once by its slots', async () => {
    const keyed = new KeyedInstances(fakeSandbox().sandbox, 'c', new Uint8Array(), {}, 2);
    expect(keyed.acquireSlot()).toBeUndefined();
    expect(keyed.acquireSlot()).toBeUndefined();
    let third = false;
    const waiting = (keyed.acquireSlot() as Promise<void>).then(() => void (third = true));
    await tick();
    expect(third).toBe(false);
    keyed.releaseSlot();
    await waiting;
    expect(third).toBe(true);
  });

  it('refuses a message without a key, or with a key too long for the store', () => {
    const keyed = new KeyedInstances(fakeSandbox().sandbox, 'counter', new Uint8Array(), {}, 2);
    expect(keyed.refuse(undefined)).toMatch(/has no key/);
    expect(keyed.refuse('')).toMatch(/has no key/);
    expect(keyed.refuse('k'.repeat(392))).toBeUndefined(); // 'counter/' + 392 = 400
    expect(keyed.refuse('k'.repeat(393))).toMatch(/too long .* at most 392/);
  });
});
