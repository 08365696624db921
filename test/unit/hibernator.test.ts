// The worker's hibernator on its own thread: agents sharing a few reused instances keep their exact states, on both engines.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileAgentModule, Guest } from '../../runtime/agent/guest.ts';
import { prepareModuleWithFacts } from '../../runtime/agent/prepare.ts';
import { DEFAULT_LIMITS, type EngineName } from '../../runtime/agent/types.ts';
import { decode, encode } from '../../runtime/codec.ts';
import { loadEngine } from '../../runtime/engine/select.ts';
import { Hibernator, type SleepyAgent, type Template } from '../../runtime/hibernation/hibernator.ts';
import { differingRuns } from '../../runtime/hibernation/state-image.ts';
import { StateStore } from '../../runtime/hibernation/state-store.ts';
import { agentPath, requireBuilt } from '../support/paths.ts';
import { wat } from './module-harness.ts';

/** lmdb's part of the interface, in memory: writes commit on the next turn, as lmdb's do. */
class MemoryDatabase {
  readonly data = new Map<string, Uint8Array>();
  getBinary(key: string) {
    return this.data.get(key);
  }
  put(key: string, value: Uint8Array): Promise<boolean> {
    return this.later(() => {
      this.data.set(key, value);
    });
  }
  remove(key: string): Promise<boolean> {
    return this.later(() => {
      this.data.delete(key);
    });
  }
  private later(apply: () => void): Promise<boolean> {
    return new Promise((resolve) => {
      setImmediate(() => {
        apply();
        resolve(true);
      });
    });
  }
  putSync(key: string, value: Uint8Array): boolean {
    this.data.set(key, value);
    return true;
  }
  getKeys() {
    return [...this.data.keys()];
  }
  getCount() {
    return this.data.size;
  }
  get flushed() {
    return this.later(() => {});
  }
  async close() {}
}

const limits = { ...DEFAULT_LIMITS, fuel: 10_000_000 };

/** What the worker's `template` request builds (runtime/worker/main.ts), for one module on one engine. */
async function templateOf(bytes: Uint8Array, engine: EngineName, hibernator: Hibernator): Promise<Template> {
  const wa = await loadEngine(engine);
  const module = compileAgentModule(wa, prepareModuleWithFacts(bytes, limits, wa, true).bytes);
  const first = Guest.create(wa, module, limits, engine, { keepInitial: true });
  if (!(first instanceof Guest)) throw new Error(first.message);
  const initial = first.initialState!;
  const base = hibernator.adoptBase(`m-${engine}`, first.captureState().memory.slice());
  return {
    moduleHash: `m-${engine}`,
    wa,
    module,
    engine,
    base,
    initialMemory: initial.memory,
    initialDelta: differingRuns(initial.memory, base),
    pool: [{ guest: first, delta: null }],
    create: (l, host) => Guest.create(wa, module, l, engine, { keepInitial: initial, ...(host ? { host } : {}) }),
  };
}

function sleeper(template: Template, i: number): SleepyAgent {
  return {
    agentId: i,
    stateKey: `k${i}`,
    template,
    limits,
    guest: null,
    dirty: false,
    lastUsed: 0,
    keepState: true,
  };
}

/** One message to one agent, as the worker runs it (runSleeper). */
function run(hibernator: Hibernator, agent: SleepyAgent, input: unknown) {
  const { failed } = hibernator.wake(agent);
  if (failed !== null) throw new Error(failed.message);
  hibernator.beforeRun(agent);
  const outcome = agent.guest!.run(encode(input));
  hibernator.ran(agent, performance.now());
  return outcome;
}

describe.each(['wasm', 'emulator'] as const)('hibernator on %s', (engine) => {
  it('keeps each of many agents exact while three instances take turns among them', async () => {
    // Each message adds 1 to a cell the input picks (agents pick different cells), and the agent answers a checksum
    // of its whole memory past the first 2 KiB: a byte left over from the instance's previous agent changes it.
    const cells = await wat(`(module
      (import "sandbox" "output" (func $output (param i32 i32) (result i32)))
      (memory (export "memory") 1 1)
      (func (export "sandbox_abi_version") (result i32) i32.const 1)
      (func (export "sandbox_alloc") (param i32) (result i32) i32.const 1024)
      (func (export "sandbox_handle") (param $ptr i32) (param $len i32) (result i32)
        (local $at i32) (local $w i32) (local $sum i32)
        (local.set $at (i32.add (i32.const 2048)
          (i32.and (i32.rem_u (i32.mul (i32.load8_u (local.get $ptr)) (i32.const 4099)) (i32.const 60000)) (i32.const -4))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (local.set $w (i32.const 512))
        (loop $sum
          (local.set $sum (i32.add (local.get $sum)
            (i32.mul (i32.load (i32.shl (local.get $w) (i32.const 2))) (i32.add (local.get $w) (i32.const 1)))))
          (local.set $w (i32.add (local.get $w) (i32.const 1)))
          (br_if $sum (i32.lt_u (local.get $w) (i32.const 16384))))
        ;; the checksum as a MessagePack bin8 of its 4 little-endian bytes
        (i32.store8 (i32.const 64) (i32.const 0xc4))
        (i32.store8 (i32.const 65) (i32.const 4))
        (i32.store (i32.const 66) (local.get $sum))
        (drop (call $output (i32.const 64) (i32.const 6)))
        i32.const 0))`);
    const hibernator = new Hibernator(
      new StateStore(new MemoryDatabase(), '/memory'),
      { path: '/memory', maxResident: 3, idleMs: 0, checkpointMs: 0 },
      () => {},
    );
    const template = await templateOf(cells, engine, hibernator);
    const agents = Array.from({ length: 12 }, (_, i) => sleeper(template, i));
    const memories = agents.map(() => new Map<number, number>()); // cell word index -> count, per agent
    const checksum = (cells: Map<number, number>) => {
      let sum = 0;
      for (const [w, n] of cells) sum = (sum + Math.imul(n, w + 1)) | 0;
      return sum >>> 0;
    };
    agents.forEach(() => {
      hibernator.added();
    });
    for (let round = 0; round < 6; round++) {
      // A different order each round, so instances pass between different agents (and their deltas differ).
      for (let j = 0; j < agents.length; j++) {
        const i = (j * [1, 5, 7, 11][round % 4]! + round) % agents.length; // (coprime to 12: a permutation)
        const x = (i * 10 + round) % 120;
        const outcome = run(hibernator, agents[i]!, x);
        expect(outcome.status, outcome.message).toBe('ok');
        const w = (2048 + (((x * 4099) % 60000) & ~3)) >> 2;
        memories[i]!.set(w, (memories[i]!.get(w) ?? 0) + 1);
        const answer = decode(outcome.rawOutput!) as Uint8Array;
        const sum = new DataView(answer.buffer, answer.byteOffset, 4).getUint32(0, true);
        expect(sum, `agent ${i}, round ${round}`).toBe(checksum(memories[i]!));
      }
      await new Promise((resolve) => setImmediate(resolve)); // writes commit
    }
    const r = hibernator.residency;
    expect(r.resident).toBe(3);
    expect(r.wakes).toBeGreaterThan(40);
  });

  it('keeps counters exact across wakes (an AssemblyScript agent: data segments, heap)', async () => {
    const hibernator = new Hibernator(
      new StateStore(new MemoryDatabase(), '/memory'),
      { path: '/memory', maxResident: 2, idleMs: 0, checkpointMs: 0 },
      () => {},
    );
    const counter = new Uint8Array(readFileSync(requireBuilt(agentPath('counter'))));
    const template = await templateOf(counter, engine, hibernator);
    const agents = Array.from({ length: 6 }, (_, i) => sleeper(template, i));
    agents.forEach(() => {
      hibernator.added();
    });
    for (let round = 1; round <= 3; round++) {
      for (const [i, agent] of agents.entries()) {
        const outcome = run(hibernator, agent, { by: i + 1 });
        expect(outcome.status, outcome.message).toBe('ok');
        expect(Number((decode(outcome.rawOutput!) as { count: number | bigint }).count)).toBe(round * (i + 1));
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  });

  it('undoes a trapped first run after a wake from the stored image, also when it grew the memory', async () => {
    const fragile = await wat(`(module
      (import "sandbox" "output" (func $output (param i32 i32) (result i32)))
      (memory (export "memory") 1 4)
      (func (export "sandbox_abi_version") (result i32) i32.const 1)
      (func (export "sandbox_alloc") (param i32) (result i32) i32.const 1024)
      (func (export "sandbox_handle") (param $ptr i32) (param $len i32) (result i32)
        i32.const 40000 i32.const 40000 i32.load i32.const 1 i32.add i32.store
        ;; true: trap after changing the state; false: grow memory, then trap
        local.get $ptr i32.load8_u i32.const 0xc3 i32.eq
        if unreachable end
        local.get $ptr i32.load8_u i32.const 0xc2 i32.eq
        if i32.const 1 memory.grow drop unreachable end
        i32.const 16 i32.const 40000 i32.load i32.store8
        i32.const 16 i32.const 1 call $output drop
        i32.const 0))`);
    const hibernator = new Hibernator(
      new StateStore(new MemoryDatabase(), '/memory'),
      { path: '/memory', maxResident: 1, idleMs: 0, checkpointMs: 0 },
      () => {},
    );
    const template = await templateOf(fragile, engine, hibernator);
    const [a, b] = [sleeper(template, 1), sleeper(template, 2)];
    hibernator.added();
    hibernator.added();
    const value = (input: unknown) => {
      const outcome = run(hibernator, a, input);
      return outcome.status === 'ok' ? decode(outcome.rawOutput!) : outcome.status;
    };
    expect(value(null)).toBe(1);
    expect(value(null)).toBe(2);
    run(hibernator, b, null); // a hibernates with 2
    expect(value(true)).toBe('trap'); // woken from its image, trapped on its first run
    expect(value(null)).toBe(3);
    run(hibernator, b, null);
    expect(value(false)).toBe('trap'); // woken again, grew its memory, trapped: another instance takes the image
    expect(value(null)).toBe(4);
    expect(hibernator.residency.undone).toBe(2);
  });
});
