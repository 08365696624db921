// Inside an agent worker: which stateful agents hold a live instance, and moving the others to and from the store.
//
// A resident agent owns an instance. Past the resident cap (least recently used first) or after idling past the
// threshold, an agent is hibernated: its memory's differences from the module's initial image and its globals go
// to the store, and its instance goes back to its module's pool, where the next agent to wake reuses it — a state
// restore of a few microseconds instead of an instantiation. Dirty resident agents are also checkpointed on a timer,
// so a replaced worker's agents wake from their last checkpoint.
import { performance } from 'node:perf_hooks';
import { Guest, type GuestOptions } from '../agent/guest.ts';
import { hostOutcome, type GuestOutcome } from '../agent/outcome.ts';
import type { EngineName, Limits } from '../agent/types.ts';
import type { WasmNamespace } from '../engine/namespace.ts';
import { applyState, encodeState, readStateImage } from './state-image.ts';
import type { StateStore } from './state-store.ts';

export interface HibernationSettings {
  /** Directory of the store (opened by every worker and by the host). */
  path: string;
  /** Live instances this worker keeps; past it the least recently used agent hibernates. */
  maxResident: number;
  /** An agent idle this long hibernates (0: only the resident cap hibernates agents). */
  idleMs: number;
  /** How often changed resident agents are written to the store (0: only when they hibernate). */
  checkpointMs: number;
}

/** One compiled module shared by every agent of it in this worker, with its initial image and spare instances. */
export interface Template {
  moduleHash: string;
  wa: WasmNamespace;
  module: WebAssembly.Module;
  engine: EngineName;
  /** The module's memory after its first initialisation, kept in the store: what states are stored against. */
  base: Uint8Array;
  /** Instances no agent holds, ready to take a state. */
  pool: Guest[];
  /** Makes a new initialised instance for this module under these limits (and host functions). */
  create(limits: Limits, host?: GuestOptions['host']): Guest | GuestOutcome;
}

export interface SleepyAgent {
  agentId: number;
  stateKey: string;
  template: Template;
  limits: Limits;
  /** Its host functions and config (`sandbox.call`), given to whichever pooled instance serves it. */
  host?: GuestOptions['host'];
  guest: Guest | null;
  /** Ran since its state was last written. */
  dirty: boolean;
  lastUsed: number;
  /** Keyed agents keep their state when unloaded; anonymous ones lose it. */
  keepState: boolean;
  /** Every ok run hands back its state image (a cluster commits it to its shared store). */
  exportState?: true;
  /**
   * The state its first wake starts from instead of the store's (null: the initial state), handed over with its
   * registration. A cluster imports the shared store's state this way: a read of what the host thread had just
   * written to LMDB could see an older read snapshot in this thread.
   */
  initialState?: Uint8Array | null;
}

export interface ResidencyCounts {
  resident: number;
  hibernated: number;
  wakes: number;
  hibernations: number;
  checkpoints: number;
  storeErrors: number;
  /** Milliseconds spent encoding and queueing state writes (hibernations and checkpoints), in total. */
  writeMs: number;
  /** Runs that trapped and were undone: the agent continued from its state before them. */
  undone: number;
}

/** Spare instances kept per module: enough to absorb a burst of wakes, few enough to cost little memory. */
const POOL_MAX = 32;

export class Hibernator {
  /** Resident agents, least recently used first (a Map keeps insertion order; a run moves its agent to the end). */
  private readonly resident = new Map<number, SleepyAgent>();
  private registered = 0;
  private readonly counts = { wakes: 0, hibernations: 0, checkpoints: 0, storeErrors: 0, writeMs: 0, undone: 0 };
  private lastStoreError = '';
  /** The state of the agent about to run, kept until its run ends (runs in a worker are one at a time). */
  private preRun = new Uint8Array(0);
  private preRunBytes = 0;
  private preRunGlobals: (number | bigint)[] = [];

  constructor(
    private readonly store: StateStore,
    private readonly settings: HibernationSettings,
    private readonly log: (message: string) => void,
  ) {}

  get residency(): ResidencyCounts {
    return { resident: this.resident.size, hibernated: this.registered - this.resident.size, ...this.counts };
  }

  /** The image a module's states are stored against: see StateStore.adoptBase. */
  adoptBase(moduleHash: string, candidate: Uint8Array): Uint8Array {
    return this.store.adoptBase(moduleHash, candidate);
  }

  added(): void {
    this.registered++;
  }

  /**
   * The agent is unloaded: a keyed agent's state is written first (the next load continues it); an anonymous one's
   * is deleted. Resolves when that is committed, so a load of the same key in another thread reads the final state.
   */
  removed(agent: SleepyAgent, keepState: boolean): Promise<void> {
    this.registered--;
    if (agent.guest !== null) {
      if (keepState) this.hibernate(agent);
      else this.evict(agent);
    }
    if (!keepState) this.store.remove(agent.stateKey).catch((error: unknown) => this.storeFailed(error));
    return this.store.settled(agent.stateKey);
  }

  /**
   * Makes sure the agent has a live instance: wakes it from the store, or starts it fresh when it has no stored
   * state. Returns null when it is ready, or the outcome that stopped it (a failed initialisation, a bad state).
   */
  wake(agent: SleepyAgent): { failed: GuestOutcome | null; wakeMs?: number } {
    if (agent.guest !== null) {
      this.resident.delete(agent.agentId);
      this.resident.set(agent.agentId, agent);
      return { failed: null };
    }
    const started = performance.now();
    const template = agent.template;
    let stored: Uint8Array | undefined;
    const handed = agent.initialState;
    try {
      if (handed !== undefined) {
        stored = handed ?? undefined;
        delete agent.initialState;
      } else stored = this.store.get(agent.stateKey);
    } catch (error) {
      this.storeFailed(error);
      return {
        failed: hostOutcome(
          'crashed',
          template.engine,
          `cannot read the agent's state from the hibernation store: ${(error as Error).message}`,
        ),
      };
    }
    const pooled = template.pool.pop();
    let guest: Guest;
    if (pooled) {
      guest = pooled;
      guest.useLimits(agent.limits);
      guest.useHost(agent.host);
      if (stored === undefined) {
        const init = guest.reinitialize();
        if (init.status !== 'ok') {
          this.release(template, guest);
          return { failed: init };
        }
      }
    } else {
      const created = template.create(agent.limits, agent.host);
      if (!(created instanceof Guest)) return { failed: created };
      guest = created;
    }
    if (stored !== undefined) {
      const problem = restore(guest, template, stored);
      if (problem !== null) {
        this.release(template, guest);
        return { failed: hostOutcome('crashed', template.engine, problem) };
      }
      this.counts.wakes++;
    }
    agent.guest = guest;
    // A fresh agent's initialised state is not stored yet, nor is a state handed over with the registration.
    agent.dirty = stored === undefined || handed !== undefined;
    this.resident.set(agent.agentId, agent);
    this.makeRoom(agent);
    return stored === undefined ? { failed: null } : { failed: null, wakeMs: performance.now() - started };
  }

  /**
   * Before a run: the agent's state is copied aside (one memory copy into a buffer the worker reuses), so a run
   * that traps can be undone exactly rather than rolled back to the last checkpoint.
   */
  beforeRun(agent: SleepyAgent): void {
    const { memory, globals } = agent.guest!.captureState();
    if (this.preRun.length < memory.length) this.preRun = new Uint8Array(memory.length);
    this.preRun.set(memory);
    this.preRunBytes = memory.length;
    this.preRunGlobals = globals;
  }

  /**
   * After a run. One that trapped leaves an instance its own code cannot be trusted with; memory and globals are
   * the whole state, so putting back the copy from beforeRun undoes the run (on a fresh instance when memory grew,
   * as memory cannot shrink). Only when that is impossible does the agent go back to its last stored state.
   */
  ran(agent: SleepyAgent, now: number): void {
    agent.lastUsed = now;
    const guest = agent.guest;
    if (guest === null) return;
    if (!guest.poisoned) {
      agent.dirty = true;
      return;
    }
    const fill = (memory: Uint8Array) => memory.set(this.preRun.subarray(0, this.preRunBytes));
    if (guest.restoreState(this.preRunBytes, fill, this.preRunGlobals)) {
      this.counts.undone++;
      return;
    }
    agent.guest = null;
    this.resident.delete(agent.agentId);
    const template = agent.template;
    const other = template.pool.pop() ?? template.create(agent.limits, agent.host);
    if (other instanceof Guest) {
      other.useLimits(agent.limits);
      other.useHost(agent.host);
      if (other.restoreState(this.preRunBytes, fill, this.preRunGlobals)) {
        agent.guest = other;
        this.resident.set(agent.agentId, agent);
        this.counts.undone++;
        return;
      }
      this.release(template, other);
    }
    agent.dirty = false; // its next message wakes it from the store
  }

  /** The resident agent's state image, as the store would hold it (undefined when it has no instance). */
  exportState(agent: SleepyAgent): Uint8Array | undefined {
    const guest = agent.guest;
    if (guest === null) return undefined;
    const { memory, globals } = guest.captureState();
    return encodeState(agent.template.moduleHash, memory, agent.template.base, globals);
  }

  /** Writes the agent's state if it changed, frees its instance for others, and forgets it as resident. */
  hibernate(agent: SleepyAgent): void {
    const guest = agent.guest;
    if (guest === null) return;
    if (agent.dirty) this.write(agent, guest);
    this.counts.hibernations++;
    this.evict(agent);
  }

  /** Every resident agent idle past the threshold hibernates; every changed one is checkpointed. Runs on a timer. */
  tick(now: number): void {
    this.store.retryFailed();
    if (this.settings.idleMs > 0) {
      for (const agent of this.resident.values()) {
        if (now - agent.lastUsed < this.settings.idleMs) break; // the rest were used more recently
        this.hibernate(agent);
      }
    }
    if (this.settings.checkpointMs > 0) this.checkpoint();
  }

  /** Writes every changed resident agent's state; they stay resident. */
  checkpoint(): void {
    for (const agent of this.resident.values()) {
      if (agent.dirty && agent.guest !== null) {
        this.write(agent, agent.guest);
        this.counts.checkpoints++;
      }
    }
  }

  /** Before the worker stops: every changed agent's state goes to the store, and the writes are on disk. */
  async drain(): Promise<void> {
    this.checkpoint();
    this.store.retryFailed();
    await this.store.flushed();
  }

  private makeRoom(keep: SleepyAgent): void {
    while (this.resident.size > this.settings.maxResident) {
      const oldest = this.resident.values().next().value as SleepyAgent;
      if (oldest === keep) break;
      this.hibernate(oldest);
    }
  }

  private write(agent: SleepyAgent, guest: Guest): void {
    const started = performance.now();
    const { memory, globals } = guest.captureState();
    const image = encodeState(agent.template.moduleHash, memory, agent.template.base, globals);
    agent.dirty = false;
    this.store.put(agent.stateKey, image).catch((error: unknown) => this.storeFailed(error));
    this.counts.writeMs += performance.now() - started;
  }

  private evict(agent: SleepyAgent): void {
    const guest = agent.guest;
    agent.guest = null;
    this.resident.delete(agent.agentId);
    if (guest !== null) this.release(agent.template, guest);
  }

  private release(template: Template, guest: Guest): void {
    if (guest.reusable && template.pool.length < POOL_MAX) template.pool.push(guest);
  }

  private storeFailed(error: unknown): void {
    this.counts.storeErrors++;
    const message = (error as Error).message;
    if (message !== this.lastStoreError) this.log(`hibernation store error: ${message}`);
    this.lastStoreError = message;
  }
}

/** Puts a stored state into an instance. Returns what is wrong, or null. */
function restore(guest: Guest, template: Template, stored: Uint8Array): string | null {
  try {
    const image = readStateImage(stored);
    if (image.moduleHash !== template.moduleHash) {
      return `the stored state belongs to module ${image.moduleHash.slice(0, 12)}…, not to this agent's module ${template.moduleHash.slice(0, 12)}…`;
    }
    const ok = guest.restoreState(
      image.memoryBytes,
      (memory) => applyState(stored, image.patchesAt, template.base, memory),
      image.globals,
    );
    return ok
      ? null
      : `the stored state (${image.memoryBytes} bytes of memory, ${image.globals.length} globals) does not fit this agent's instance (memory limit ${guest.memoryLimit} bytes, ${guest.globalCount} globals)`;
  } catch (error) {
    return (error as Error).message;
  }
}
