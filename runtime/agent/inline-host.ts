// Inline isolation: agents compiled, instantiated and run on the calling thread, bounded by fuel and a wall clock checked at host calls.
import { performance } from 'node:perf_hooks';
import { decodeTrusted } from '../codec.ts';
import type { WasmNamespace } from '../engine/namespace.ts';
import { loadEngine } from '../engine/select.ts';
import type { Deadline } from './guest.ts';
import { hostOutcome, type GuestOutcome } from './outcome.ts';
import { instantiate, makeSlot, runSlot, type AgentSlot, type HostImportOptions, type SlotSpec } from './slot.ts';
import type { EngineName, RunResult } from './types.ts';
import type { HostCallReply, HostCallRequest } from '../../host/host-call.ts';

/** Answers an inline agent's host-function call on this thread: the agent and its run number name the caller. */
export type InlineHostCall = (request: HostCallRequest, agentId: number, run: number) => HostCallReply;

/** What an inline agent is made from: its slot's spec (a worker's load request without the framing) and its id. */
export type InlineAgentSpec = SlotSpec & { agentId: number };

/**
 * No thread can be stopped from outside here, so the deadline is checked by the host imports (every call) and once
 * more when the run returns; fuel, which the caller must not turn off, bounds the stretches between host calls.
 */
export class InlineHost {
  /** The deadline of the run in progress on this thread, read by every inline instance's host imports. */
  private readonly deadline: Deadline = { at: Infinity };
  private readonly agents = new Map<number, AgentSlot>();
  private readonly modules = new Map<string, WebAssembly.Module>();
  private readonly engines = new Map<EngineName, WasmNamespace>();
  /** The agent running now and its run number: who a host-function call comes from. */
  private current = 0;
  private runs = 0;
  /** What every inline instance's host imports get: the deadline, and host functions called directly on this thread. */
  private readonly imports: HostImportOptions;

  constructor(hostCall?: InlineHostCall) {
    this.imports = {
      deadline: this.deadline,
      ...(hostCall
        ? {
            callHost: (name: string, payload: Uint8Array) =>
              hostCall({ t: 'host', name, payload }, this.current, this.runs),
          }
        : {}),
    };
  }

  get agentCount(): number {
    return this.agents.size;
  }

  /** Compiles (cached by key) and initialises the agent; resolves to the outcome of its initialisation. */
  async load(spec: InlineAgentSpec): Promise<RunResult> {
    let wa = this.engines.get(spec.engine);
    if (!wa) {
      wa = await loadEngine(spec.engine);
      this.engines.set(spec.engine, wa);
    }
    let slot: AgentSlot;
    try {
      slot = makeSlot(this.modules, wa, spec);
    } catch (error) {
      return hostOutcome('invalid-module', spec.engine, (error as Error).message);
    }
    this.current = spec.agentId;
    this.runs++;
    const outcome = this.timed(slot, () => instantiate(slot, this.imports));
    if (outcome.status === 'ok') this.agents.set(spec.agentId, slot);
    return outcome;
  }

  /** Runs a loaded agent once with MessagePack input, on this thread. Never throws for anything the agent does. */
  run(agentId: number, input: Uint8Array): RunResult {
    const slot = this.agents.get(agentId);
    if (!slot) return hostOutcome('crashed', 'wasm', `agent ${agentId} is not loaded`);
    this.current = agentId;
    this.runs++;
    return this.timed(slot, () => runSlot(slot, input, this.imports));
  }

  unload(agentId: number): undefined {
    this.agents.delete(agentId);
    return undefined;
  }

  close(): void {
    this.agents.clear();
    this.modules.clear();
  }

  /** Times a call into guest code, applies the deadline after it, and decodes the output the guest left. */
  private timed(slot: AgentSlot, body: () => GuestOutcome): RunResult {
    const started = performance.now();
    // Saved and put back, so a run started from inside a host call (none today) cannot end its caller's clock.
    const outer = this.deadline.at;
    this.deadline.at = Math.min(outer, started + slot.limits.timeoutMs);
    let outcome: GuestOutcome;
    try {
      outcome = body();
    } finally {
      this.deadline.at = outer;
    }
    const elapsed = performance.now() - started;
    outcome.durationMs = elapsed;
    // A run that already failed keeps its deterministic reason (out-of-fuel, trap, ...) however long it took; one
    // that succeeded too late loses its output and events as a stopped worker's would, and its instance is replaced.
    if (outcome.status === 'ok' && elapsed > slot.limits.timeoutMs) {
      if (slot.guest) slot.guest.poisoned = true;
      const late = hostOutcome(
        'timeout',
        slot.engine,
        `the agent ran past its wall-clock limit of ${slot.limits.timeoutMs} ms (${elapsed.toFixed(1)} ms); raise limits.timeoutMs if the work is legitimate`,
      );
      late.durationMs = elapsed;
      late.fuelUsed = outcome.fuelUsed;
      late.memoryPeakBytes = outcome.memoryPeakBytes;
      return late;
    }
    const raw = outcome.rawOutput;
    if (raw === undefined) return outcome;
    try {
      outcome.output = decodeTrusted(raw);
    } catch (error) {
      return {
        ...hostOutcome(
          'invalid-output',
          slot.engine,
          `the agent's output cannot be decoded: ${(error as Error).message}`,
        ),
        durationMs: elapsed,
        fuelUsed: outcome.fuelUsed,
        memoryPeakBytes: outcome.memoryPeakBytes,
      };
    }
    // The last property added (Guest.call): V8 deletes it by going back one shape, as cheap as never adding it.
    delete outcome.rawOutput;
    return outcome;
  }
}
