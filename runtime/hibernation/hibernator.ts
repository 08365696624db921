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
import { copyRuns, revertToBase, type Delta } from './base-delta.ts';
import { applyState, encodeState, encodeStateWithDelta, readStateImage } from './state-image.ts';
import type { StateStore } from './state-store.ts';

export interface HibernationSettings {
  /** Directory of the store (opened by every worker and by the host). */
  path: string;
  /** Live instances this worker keeps; past it the least recently used agent hibernates. */
  maxResident: number;
  /** Linear memory those instances may hold in all (absent or Infinity: no cap); past it, the same. */
  maxResidentBytes?: number;
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
  /** Memory as instantiation leaves it (before the start function), and where that differs from `base`. */
  initialMemory: Uint8Array;
  initialDelta: Delta;
  /** Instances no agent holds, ready to take a state. */
  pool: Pooled[];
  /** Makes a new initialised instance for this module under these limits (and host functions). */
  create(limits: Limits, host?: GuestOptions['host']): Guest | GuestOutcome;
}

/** A spare instance, and where its memory differs from the base (null: not known, compared block by block). */
export interface Pooled {
  guest: Guest;
  delta: Delta | null;
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
  /**
   * While resident and not dirty: where its memory differs from the base (from its wake or its last write), so
   * the instance goes to the pool with it; and its state image (when small), from which a trapped run is undone
   * without copying the memory aside first. Null when not known.
   */
  delta?: Delta | null;
  image?: Uint8Array | null;
  /** Its instance's memory as counted in the resident bytes (0 while it has none). */
  residentBytes?: number;
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
/** A resident agent keeps its last image (the undo source for its next run) only up to this size; larger ones copy. */
const KEEP_IMAGE_BYTES = 16 * 1024;

export class Hibernator {
  /** Resident agents, least recently used first (a Map keeps insertion order; a run moves its agent to the end). */
  private readonly resident = new Map<number, SleepyAgent>();
  /** The resident instances' memory, in bytes (settings.maxResidentBytes caps it). */
  private residentBytes = 0;
  private registered = 0;
  private readonly counts = { wakes: 0, hibernations: 0, checkpoints: 0, storeErrors: 0, writeMs: 0, undone: 0 };
  private lastStoreError = '';
  /** The state of the agent about to run, kept until its run ends (runs in a worker are one at a time). */
  private preRun = new Uint8Array(0);
  private preRunBytes = 0;
  private preRunGlobals: (number | bigint)[] = [];
  /** Instead of the copy: the stored image the agent's state equals before the run (it woke and has not run since). */
  private preRunImage: Uint8Array | null = null;

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
    /** Where the instance's memory differs from the base now (null: not known). */
    let known: Delta | null = null;
    if (pooled) {
      guest = pooled.guest;
      known = pooled.delta;
      guest.useLimits(agent.limits);
      guest.useHost(agent.host);
      if (stored === undefined) {
        const init = guest.reinitialize((memory) => {
          revertToBase(memory, template.base, pooled.delta);
          copyRuns(memory, template.initialMemory, template.initialDelta);
        });
        known = null; // initialisation writes where it likes
        if (init.status !== 'ok') {
          this.release(template, guest, null);
          return { failed: init };
        }
      }
    } else {
      const created = template.create(agent.limits, agent.host);
      if (!(created instanceof Guest)) return { failed: created };
      guest = created;
    }
    agent.delta = null;
    agent.image = null;
    if (stored !== undefined) {
      const restored = restore(guest, template, stored, known);
      if (typeof restored === 'string') {
        this.release(template, guest, null);
        return { failed: hostOutcome('crashed', template.engine, restored) };
      }
      agent.delta = restored;
      if (stored.length <= KEEP_IMAGE_BYTES) agent.image = stored;
      this.counts.wakes++;
    }
    agent.guest = guest;
    // A fresh agent's initialised state is not stored yet, nor is a state handed over with the registration.
    agent.dirty = stored === undefined || handed !== undefined;
    this.resident.set(agent.agentId, agent);
    this.count(agent);
    this.makeRoom(agent);
    return stored === undefined ? { failed: null } : { failed: null, wakeMs: performance.now() - started };
  }

  /**
   * Before a run: the agent's state is copied aside (one memory copy into a buffer the worker reuses), so a run
   * that traps can be undone exactly rather than rolled back to the last checkpoint.
   */
  beforeRun(agent: SleepyAgent): void {
    if (!agent.dirty && agent.image) {
      this.preRunImage = agent.image; // its state is this image: nothing to copy
      return;
    }
    this.preRunImage = null;
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
    this.count(agent); // the run may have grown its memory
    if (!guest.poisoned) {
      agent.dirty = true;
      agent.delta = null;
      agent.image = null;
      return;
    }
    const template = agent.template;
    const image = this.preRunImage;
    // Whichever way the state was kept, it goes back whole: the trapped run may have written anywhere.
    const undo = (g: Guest): boolean =>
      image !== null
        ? typeof restore(g, template, image, null) !== 'string'
        : g.restoreState(
            this.preRunBytes,
            (memory) => {
              memory.set(this.preRun.subarray(0, this.preRunBytes));
            },
            this.preRunGlobals,
          );
    if (undo(guest)) {
      this.counts.undone++;
      return;
    }
    agent.guest = null;
    this.resident.delete(agent.agentId);
    const pooled = template.pool.pop();
    const other = pooled?.guest ?? template.create(agent.limits, agent.host);
    if (other instanceof Guest) {
      other.useLimits(agent.limits);
      other.useHost(agent.host);
      if (undo(other)) {
        agent.guest = other;
        this.resident.set(agent.agentId, agent);
        this.count(agent);
        this.counts.undone++;
        return;
      }
      this.release(template, other, null);
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
    const maxBytes = this.settings.maxResidentBytes ?? Infinity;
    while (this.resident.size > this.settings.maxResident || this.residentBytes > maxBytes) {
      const oldest = this.resident.values().next().value as SleepyAgent;
      if (oldest === keep) break;
      this.hibernate(oldest);
    }
  }

  private write(agent: SleepyAgent, guest: Guest): void {
    const started = performance.now();
    const { memory, globals } = guest.captureState();
    const { image, delta } = encodeStateWithDelta(agent.template.moduleHash, memory, agent.template.base, globals);
    agent.dirty = false;
    agent.delta = delta;
    agent.image = image.length <= KEEP_IMAGE_BYTES ? image : null;
    this.store.put(agent.stateKey, image).catch((error: unknown) => this.storeFailed(error));
    this.counts.writeMs += performance.now() - started;
  }

  private evict(agent: SleepyAgent): void {
    const guest = agent.guest;
    const delta = agent.dirty ? null : (agent.delta ?? null);
    agent.guest = null;
    agent.delta = null;
    agent.image = null;
    this.resident.delete(agent.agentId);
    this.count(agent);
    if (guest !== null) this.release(agent.template, guest, delta);
  }

  /** Brings the resident bytes up to date with the agent's instance (or its lack of one). */
  private count(agent: SleepyAgent): void {
    const bytes = agent.guest === null ? 0 : agent.guest.memoryBytes;
    this.residentBytes += bytes - (agent.residentBytes ?? 0);
    agent.residentBytes = bytes;
  }

  /** Pools the instance; `delta` says where its memory differs from the base (null: not known). */
  private release(template: Template, guest: Guest, delta: Delta | null): void {
    if (guest.reusable && template.pool.length < POOL_MAX) template.pool.push({ guest, delta });
  }

  private storeFailed(error: unknown): void {
    this.counts.storeErrors++;
    const message = (error as Error).message;
    if (message !== this.lastStoreError) this.log(`hibernation store error: ${message}`);
    this.lastStoreError = message;
  }
}

/**
 * Puts a stored state into an instance whose memory differs from the base where `known` says (null: anywhere).
 * Returns the state's delta, or what is wrong.
 */
function restore(guest: Guest, template: Template, stored: Uint8Array, known: Delta | null): Delta | string {
  try {
    const image = readStateImage(stored);
    if (image.moduleHash !== template.moduleHash) {
      return `the stored state belongs to module ${image.moduleHash.slice(0, 12)}…, not to this agent's module ${template.moduleHash.slice(0, 12)}…`;
    }
    const applied: { delta?: Delta } = {};
    const ok = guest.restoreState(
      image.memoryBytes,
      (memory) => {
        applied.delta = applyState(stored, image.patchesAt, template.base, memory, known);
      },
      image.globals,
    );
    return ok && applied.delta !== undefined
      ? applied.delta
      : `the stored state (${image.memoryBytes} bytes of memory, ${image.globals.length} globals) does not fit this agent's instance (memory limit ${guest.memoryLimit} bytes, ${guest.globalCount} globals)`;
  } catch (error) {
    return (error as Error).message;
  }
}
