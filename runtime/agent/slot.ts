// One loaded agent's instance, made on demand and made again after a run that poisoned it: what worker and inline isolation share.
import type { WasmNamespace } from '../engine/namespace.ts';
import { Guest, type GuestOptions } from './guest.ts';
import { hostOutcome, InvalidModule, type GuestOutcome } from './outcome.ts';
import type { EngineName, Limits } from './types.ts';

/**
 * The host imports an instance gets beyond the guest ABI's own (graph bridge, deadline checks): the one place a
 * new capability is passed to agents, in a worker and inline alike.
 */
export type HostImportOptions = Pick<GuestOptions, 'graph' | 'deadline'>;

export interface AgentSlot {
  reset: boolean;
  engine: EngineName;
  wa: WasmNamespace;
  module: WebAssembly.Module;
  limits: Limits;
  guest: Guest | null;
}

/** Instantiates and initialises the slot's agent; the outcome says whether it can run. */
export function instantiate(slot: AgentSlot, imports: HostImportOptions): GuestOutcome {
  try {
    const created = Guest.create(slot.wa, slot.module, slot.limits, slot.engine, { ...imports, reset: slot.reset });
    if (created instanceof Guest) {
      slot.guest = created;
      return hostOutcome('ok', slot.engine);
    }
    return created;
  } catch (error) {
    return hostOutcome(error instanceof InvalidModule ? 'invalid-module' : 'crashed', slot.engine, (error as Error).message);
  }
}

/** Runs the slot's agent once; a run that trapped may have left the guest's runtime half-way through an update, so it starts afresh. */
export function runSlot(slot: AgentSlot, input: Uint8Array, imports: HostImportOptions): GuestOutcome {
  const guest = slot.guest;
  if (guest !== null && !guest.poisoned) return guest.run(input);
  const fresh = instantiate(slot, imports);
  return fresh.status !== 'ok' ? fresh : slot.guest!.run(input);
}
