// One loaded agent's instance, made on demand and made again after a run that poisoned it: what worker and inline isolation share.
import type { WasmNamespace } from '../engine/namespace.ts';
import { compileAgentModule, Guest, type GuestOptions, type PluginOptions } from './guest.ts';
import { prepareModule } from './prepare.ts';
import type { HostCaller } from '../../host/host-call.ts';
import { userImportsOf, type UserImport } from '../../host/extism/user-functions.ts';
import { WasiHost } from '../../host/wasi/index.ts';
import { unframePluginInput, type LoadRequest, type PluginSpec } from '../worker/protocol.ts';
import { hostOutcome, InvalidModule, thrownOutcome, type GuestOutcome } from './outcome.ts';
import type { EngineName, Limits } from './types.ts';

/**
 * The host imports an instance gets beyond the guest ABI's own (graph bridge, deadline checks): the one place a
 * new capability is passed to agents, in a worker and inline alike.
 */
export type HostImportOptions = Pick<GuestOptions, 'graph' | 'deadline'> & {
  /** Calls the running agent's granted host functions (a worker: over the bridge; inline: directly). */
  callHost?: HostCaller;
  /** Makes an Extism plugin's HTTP requests (worker isolation only). */
  http?: PluginOptions['http'];
};

export interface AgentSlot {
  reset: boolean;
  engine: EngineName;
  wa: WasmNamespace;
  module: WebAssembly.Module;
  limits: Limits;
  guest: Guest | null;
  /** Host functions granted to the agent, by name, and what `sandbox.grants` answers. */
  host?: LoadRequest['host'];
  /** An Extism plugin: its spec, and the shapes of its user imports. */
  plugin?: PluginSpec & { user: UserImport[] };
}

/** What a slot is made from: a worker's load request without its framing (inline isolation passes the same fields). */
export type SlotSpec = Pick<LoadRequest, 'engine' | 'key' | 'bytes' | 'limits' | 'reset' | 'host'> & {
  plugin?: PluginSpec | undefined;
};

/**
 * A new slot for `spec`, its prepared module compiled once per engine and preparation key into `modules`. Throws
 * (InvalidModule, ModuleError) for a module that cannot be an agent or plugin.
 */
export function makeSlot(modules: Map<string, WebAssembly.Module>, wa: WasmNamespace, spec: SlotSpec): AgentSlot {
  const user = spec.plugin ? userImportsOf(spec.bytes, spec.plugin.wasi) : [];
  const key = `${spec.engine}:${spec.key}`;
  let module = modules.get(key);
  if (!module) {
    // (The host sends a module's bytes until a load of it succeeds here; compiled modules are never dropped.)
    if (spec.bytes.length === 0) throw new Error(`the worker has no compiled module ${key} and was sent no bytes`);
    const prepared = prepareModule(spec.bytes, spec.limits, wa, spec.reset);
    module = compileAgentModule(wa, prepared, spec.plugin ? 'plugin' : 'agent');
    modules.set(key, module);
  }
  const slot: AgentSlot = { reset: spec.reset, engine: spec.engine, wa, module, limits: spec.limits, guest: null };
  if (spec.host) slot.host = spec.host;
  if (spec.plugin) slot.plugin = { ...spec.plugin, user };
  return slot;
}

const ungranted: HostCaller = () => ({ error: 'no host functions were granted to this agent' });

/** The GuestOptions of one instance of the slot's agent: its ABI's host side, bound to this isolation's callers. */
function guestOptions(slot: AgentSlot, imports: HostImportOptions): GuestOptions {
  const options: GuestOptions = { graph: imports.graph, reset: slot.reset };
  if (imports.deadline) options.deadline = imports.deadline;
  const call = slot.host && slot.host.names.length > 0 ? imports.callHost : undefined;
  if (slot.plugin) {
    const { config, maxVarBytes, user, wasi, http } = slot.plugin;
    const missing = user.filter((u) => !slot.host?.names.includes(u.name)).map((u) => u.name);
    if (missing.length > 0) {
      throw new InvalidModule(
        `the plugin imports host function(s) ${missing.join(', ')} (extism:host/user), which were not granted to it (load option \`host\`)`,
      );
    }
    options.plugin = {
      config,
      maxVarBytes,
      user,
      call: call ?? ungranted,
      ...(http && imports.http ? { http: imports.http } : {}),
    };
    if (wasi) options.wasi = new WasiHost({ args: ['plugin'], maxOutputBytes: slot.limits.outputBytes });
  } else if (slot.host) {
    options.host = { granted: new Set(slot.host.names), grants: slot.host.grants, config: slot.host.config, call };
  }
  return options;
}

/** Instantiates and initialises the slot's agent; the outcome says whether it can run. */
export function instantiate(slot: AgentSlot, imports: HostImportOptions): GuestOutcome {
  try {
    const created = Guest.create(slot.wa, slot.module, slot.limits, slot.engine, guestOptions(slot, imports));
    if (created instanceof Guest) {
      slot.guest = created;
      return hostOutcome('ok', slot.engine);
    }
    return created;
  } catch (error) {
    return thrownOutcome(error, slot.engine);
  }
}

/** Runs the slot's agent once; a run that trapped may have left the guest's runtime half-way through an update, so it starts afresh. */
export function runSlot(slot: AgentSlot, input: Uint8Array, imports: HostImportOptions): GuestOutcome {
  const guest = slot.guest;
  if (guest === null || guest.poisoned) {
    const fresh = instantiate(slot, imports);
    if (fresh.status !== 'ok') return fresh;
  }
  if (slot.plugin) {
    // A plugin's run names the exported function to call (framePluginInput).
    const { fn, input: bytes } = unframePluginInput(input);
    return slot.guest!.callExport(fn, bytes);
  }
  return slot.guest!.run(input);
}
