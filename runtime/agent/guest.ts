// One instantiated agent and one run of it, on any WebAssembly-shaped engine: the code a worker runs.
import { performance } from 'node:perf_hooks';
import { GUEST_EXPORTS, IMPORT_MODULE, ABI_VERSION } from '../../host/abi.ts';
import { SANDBOX_EXPORTS as METER_EXPORTS, SANDBOX_FLAGS as METER_FLAGS } from '../module/instrument.ts';
import { StateGlobals } from './state-globals.ts';
import { envImports, GuestAbort } from '../../host/env-imports.ts';
import { GuestMemory } from '../../host/guest-memory.ts';
import { HostFault, RunContext } from '../../host/run-context.ts';
import { callImports, type HostCaller } from '../../host/host-call.ts';
import { EXTISM_ENV, EXTISM_ENV_NAMES, EXTISM_USER, type ExtismKernel } from '../../host/extism/kernel.ts';
import { pluginImports, type PluginOptions } from './plugin-imports.ts';
import { graphImports, type GraphBridge } from '../../host/graph-imports.ts';
import { sandboxImports } from '../../host/sandbox-imports.ts';
import { WASI_MODULE, WasiHost } from '../../host/wasi/index.ts';
import { isPreview1Function } from '../../host/wasi/preview1.ts';
import { importObject } from '../../host/import-object.ts';
import { checkMessagePack, encode } from '../codec.ts';
import type { WasmNamespace } from '../engine/namespace.ts';
import { InvalidModule, type GuestOutcome } from './outcome.ts';
import { PluginOutput } from './plugin-output.ts';
import type { EngineName, Limits, RunResult, RunStatus } from './types.ts';

export type { PluginOptions } from './plugin-imports.ts';

// A Map, not an object literal: a module named `constructor` or `__proto__` must not find anything.
const HOST_IMPORTS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [IMPORT_MODULE, new Set(['output', 'emit', 'log', 'now', 'random', 'graph', 'graph_result', 'call', 'call_result'])],
  ['env', new Set(['abort', 'trace', 'seed'])],
]);

/**
 * An agent speaks guest ABI v1; a command is a WASI preview 1 program run once from `_start`; a plugin speaks
 * Extism's host ABI (host/extism/) and any of its exported functions can be called.
 */
export type ModuleKind = 'agent' | 'command' | 'plugin';

/** An agent granted no host functions and no config: `sandbox.call` answers E_UNAVAILABLE, grants list nothing. */
const NO_HOST: NonNullable<GuestOptions['host']> = {
  granted: new Set<string>(),
  grants: encode({ host: [], config: [], http: [], graph: false }),
  call: undefined,
};

type Fn = (...args: number[]) => unknown;
const EMPTY = new Uint8Array(0);
interface MutableGlobal {
  value: number | bigint;
}

interface Snapshot {
  memory: Uint8Array;
  globals: (number | bigint)[];
  /** An Extism plugin's vars: instance state the kernel keeps outside linear memory. */
  vars?: [string, Uint8Array][];
}

/** An agent's whole state between runs: its linear memory and its mutable globals (numbers; i64 as bigint). */
export interface GuestState {
  memory: Uint8Array;
  globals: (number | bigint)[];
}

export interface GuestOptions {
  graph?: GraphBridge | undefined;
  /** Host functions for `sandbox.call` (guest ABI v1): the granted names, the grants listing and the caller. */
  host?: {
    granted: ReadonlySet<string>;
    grants: Uint8Array;
    config?: Readonly<Record<string, string>> | undefined;
    call: HostCaller | undefined;
  };
  /** An Extism plugin (kind 'plugin'): its kernel replaces guest ABI v1. */
  plugin?: PluginOptions;
  /** Snapshot after initialisation and restore after every run (stateless agents). */
  reset?: boolean;
  wasi?: WasiHost;
  /**
   * Keep the state instantiation left, before the start function, so `reinitialize` can make it a new agent: true
   * captures it; a state from another instance of the same module (`initialState`) is shared instead, since every
   * instance of a module starts from the same bytes.
   */
  keepInitial?: boolean | GuestState;
  /** The module changes tables or drops segments (prepareModuleWithFacts): restoring a snapshot is not enough. */
  untrackedState?: boolean;
  /**
   * Check `limits.timeoutMs` at every host call (inline isolation, where no watchdog can stop the thread): a run
   * past its deadline is stopped at its next host call with status 'timeout'. The caller owns the clock: it sets
   * `at` (a performance.now() time) before each call into the guest, so the guest reads no clock of its own.
   */
  deadline?: Deadline;
}

/** When the run in progress must stop (performance.now() time; Infinity between runs). */
export interface Deadline {
  at: number;
}

/** Thrown through the guest by a host import called after the run's deadline (GuestOptions.deadline). */
class DeadlinePassed extends Error {}

/** Unmetered agents still run instrumented code that counts: it starts from a count it cannot exhaust. */
function startingFuel(limits: Limits): bigint {
  return BigInt(limits.fuel > 0 ? limits.fuel : Number.MAX_SAFE_INTEGER);
}

/** Makes every import of a module check the deadline first: whatever the guest calls, a late run stops there. */
function guardDeadline(functions: Record<string, Fn>, deadline: Deadline): void {
  for (const [name, fn] of Object.entries(functions)) {
    functions[name] = (...args: number[]) => {
      if (performance.now() > deadline.at) throw new DeadlinePassed();
      return fn(...args);
    };
  }
}

/** Compiles and checks a module's interface. Throws InvalidModule naming what is wrong. */
export function compileAgentModule(
  wa: WasmNamespace,
  bytes: Uint8Array,
  kind: ModuleKind = 'agent',
): WebAssembly.Module {
  let module: WebAssembly.Module;
  try {
    module = new wa.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (error) {
    throw new InvalidModule(`not a valid WebAssembly module: ${(error as Error).message}`);
  }
  for (const imp of wa.Module.imports(module)) {
    if (kind === 'plugin') {
      if (
        imp.kind === 'function' &&
        (imp.module === EXTISM_USER ||
          (imp.module === EXTISM_ENV && EXTISM_ENV_NAMES.has(imp.name)) ||
          (imp.module === WASI_MODULE && isPreview1Function(imp.name)))
      )
        continue;
      throw new InvalidModule(
        `the plugin imports ${imp.kind} ${imp.module}.${imp.name}, which the host does not provide (Extism's ${EXTISM_ENV} kernel, ${EXTISM_USER} host functions and, with wasi, ${WASI_MODULE}; see docs/extism.md)`,
      );
    }
    if (kind === 'command' && imp.module === WASI_MODULE) {
      if (imp.kind === 'function' && isPreview1Function(imp.name)) continue;
      throw new InvalidModule(
        `the module imports ${imp.kind} ${WASI_MODULE}.${imp.name}, which is not a WASI preview 1 function (docs/wasi.md)`,
      );
    }
    if (imp.module.startsWith('extism:host/')) {
      throw new InvalidModule(
        `the module imports ${imp.module}.${imp.name}: it is an Extism plugin, which runs with abi 'extism' and is driven with agent.call(fn, input) (docs/extism.md), not as a guest ABI v1 agent`,
      );
    }
    const known = HOST_IMPORTS.get(imp.module);
    if (imp.kind !== 'function' || known === undefined || !known.has(imp.name)) {
      throw new InvalidModule(
        `the module imports ${imp.kind} ${imp.module}.${imp.name}, which the host does not provide (guest ABI v${ABI_VERSION} provides ${IMPORT_MODULE}.{output,emit,log,now,random,graph,graph_result} and env.{abort,trace,seed}; see docs/abi.md)`,
      );
    }
  }
  const exports = new Map(wa.Module.exports(module).map((e) => [e.name, e.kind]));
  if (kind === 'plugin') return module; // any exported function may be called; a missing one is that call's error
  if (kind === 'command') {
    if (exports.get(GUEST_EXPORTS.memory) !== 'memory' || exports.get('_start') !== 'function') {
      throw new InvalidModule('a WASI command must export `memory` and a `_start` function');
    }
    return module;
  }
  const required: [string, string][] = [
    [GUEST_EXPORTS.memory, 'memory'],
    [GUEST_EXPORTS.abiVersion, 'function'],
    [GUEST_EXPORTS.alloc, 'function'],
    [GUEST_EXPORTS.handle, 'function'],
  ];
  for (const [name, kind] of required) {
    if (exports.get(name) !== kind) {
      throw new InvalidModule(
        `the module does not export ${kind} \`${name}\`, which guest ABI v${ABI_VERSION} requires (docs/abi.md)`,
      );
    }
  }
  return module;
}

export class Guest {
  private readonly memory = new GuestMemory();
  private ctx: RunContext;
  private readonly exports: Record<string, unknown>;
  private readonly alloc: Fn;
  private readonly handle: Fn;
  private readonly fuel: MutableGlobal | undefined;
  private readonly depth: MutableGlobal | undefined;
  private readonly flags: MutableGlobal | undefined;
  /** Set when a run ended in a state the guest's own code cannot be trusted to have left consistent. */
  poisoned = false;
  /** For stateless agents: memory and mutable globals right after initialisation, restored after every run. */
  private snapshot: Snapshot | null = null;
  /** Memory and globals as instantiation left them, before the start function: lets the instance become a new agent. */
  private initial: Snapshot | null = null;
  /** The instance's mutable globals (the instrumenter's `exportGlobals`): with memory, the whole state. */
  private readonly stateGlobals: StateGlobals;
  /** The module changes tables or drops segments: state a snapshot misses, so restoring one is not the whole state. */
  private readonly untrackedState: boolean;
  /** Fuel at the start of a run, as the meter's i64 wants it: made once per limits, not per run. */
  private fuelStart: bigint;
  /** The meter as the last run left it (null when unmetered). */
  private fuelLeft: bigint | null = null;
  /** An Extism plugin's kernel (host/extism/kernel.ts); null for agents and commands. */
  readonly kernel: ExtismKernel | null = null;
  /** The host functions and config of the agent this instance serves (`sandbox.call`). */
  private host: NonNullable<GuestOptions['host']> = NO_HOST;

  private constructor(
    private readonly wa: WasmNamespace,
    module: WebAssembly.Module,
    private limits: Limits,
    private readonly engine: EngineName,
    graph: GraphBridge | undefined,
    private readonly wasi: WasiHost | undefined,
    untrackedState: boolean,
    deadline: Deadline | undefined,
    options: GuestOptions,
  ) {
    this.untrackedState = untrackedState;
    this.fuelStart = startingFuel(limits);
    this.ctx = new RunContext(limits);
    const ctx = () => this.ctx;
    const charge = (fuel: number) => {
      if (this.fuel && this.limits.fuel > 0) this.fuel.value = (this.fuel.value as bigint) - BigInt(fuel);
    };
    const wasiImports: Record<string, object> = wasi ? { [WASI_MODULE]: wasi.imports(() => this.memory.memory!) } : {};
    let imports: WebAssembly.Imports;
    if (options.plugin) {
      const plugin = pluginImports(options.plugin, limits, ctx, charge);
      this.kernel = plugin.kernel;
      imports = importObject({ ...plugin.namespaces, ...wasiImports });
    } else {
      this.host = options.host ?? NO_HOST;
      imports = importObject({
        [IMPORT_MODULE]: {
          ...sandboxImports(this.memory, ctx),
          ...graphImports(this.memory, ctx, graph, charge),
          ...callImports(this.memory, ctx, () => ({ ...this.host, charge })),
        },
        env: envImports(this.memory, ctx),
        ...wasiImports,
      });
    }
    if (deadline) {
      const namespaces = imports as unknown as Record<string, Record<string, Fn>>;
      for (const [module, functions] of Object.entries(namespaces)) {
        if (module !== EXTISM_ENV) {
          guardDeadline(functions, deadline);
          continue;
        }
        // An Extism kernel's memory primitives are pure work bounded by fuel; the one that can wait is guarded.
        const waits: Record<string, Fn> = { http_request: functions.http_request! };
        guardDeadline(waits, deadline);
        functions.http_request = waits.http_request!;
      }
    }
    let instance: WebAssembly.Instance;
    try {
      instance = new wa.Instance(module, imports);
    } catch (error) {
      if (error instanceof wa.LinkError)
        throw new InvalidModule(`the module's imports do not match the host's: ${error.message}`);
      throw error;
    }
    this.exports = instance.exports as Record<string, unknown>;
    this.memory.memory = (this.exports[GUEST_EXPORTS.memory] as WebAssembly.Memory | undefined) ?? null;
    this.alloc = this.exports[GUEST_EXPORTS.alloc] as Fn;
    this.handle = this.exports[GUEST_EXPORTS.handle] as Fn;
    this.fuel = this.exports[METER_EXPORTS.fuel] as MutableGlobal | undefined;
    this.depth = this.exports[METER_EXPORTS.depth] as MutableGlobal | undefined;
    this.flags = this.exports[METER_EXPORTS.flags] as MutableGlobal | undefined;
    this.stateGlobals = StateGlobals.of(module, this.exports);
  }

  /**
   * Instantiates the module and initialises it (its start function, then `sandbox_init`) under the run limits.
   * Returns the guest, or the outcome that stopped initialisation. Throws InvalidModule.
   */
  static create(
    wa: WasmNamespace,
    module: WebAssembly.Module,
    limits: Limits,
    engine: EngineName,
    options: GuestOptions = {},
  ): Guest | GuestOutcome {
    const guest = new Guest(
      wa,
      module,
      limits,
      engine,
      options.graph,
      options.wasi,
      options.untrackedState ?? false,
      options.deadline,
      options,
    );
    if (options.keepInitial === true) guest.initial = guest.capture();
    else if (options.keepInitial) guest.initial = options.keepInitial;
    const init = guest.initialize();
    if (init.status !== 'ok') return init;
    if (options.reset) guest.snapshot = guest.capture();
    return guest;
  }

  /** Runs the start function, checks the ABI version and calls `sandbox_init`, under the run limits. */
  private initialize(): GuestOutcome {
    const init = this.call(() => {
      const start = this.exports[METER_EXPORTS.start] as Fn | undefined;
      if (start) {
        this.resetDepth();
        start();
      }
      if (this.kernel) {
        // A WASI reactor (some Extism PDKs build plugins as such) sets up its runtime in `_initialize`.
        const initialize = this.exports._initialize as Fn | undefined;
        if (typeof initialize === 'function') {
          this.resetDepth();
          initialize();
        }
        return 0;
      }
      if (this.wasi) return 0; // a command has no ABI version or init; its work starts at _start
      this.resetDepth();
      const version = (this.exports[GUEST_EXPORTS.abiVersion] as Fn)();
      if (version !== ABI_VERSION) {
        throw new InvalidModule(
          `the module speaks guest ABI version ${String(version)}; this host speaks version ${ABI_VERSION}`,
        );
      }
      const init = this.exports[GUEST_EXPORTS.init] as Fn | undefined;
      if (typeof init === 'function') {
        this.resetDepth();
        init();
      }
      return 0;
    });
    if (init.status !== 'ok') init.message = `initialisation failed: ${init.message ?? init.status}`;
    return init;
  }

  /**
   * Whether this instance can be handed another agent's state (or a fresh one): nothing trapped half-way, memory
   * not grown past the initial image (it cannot shrink), and no state outside memory and globals.
   */
  get reusable(): boolean {
    return (
      !this.poisoned &&
      !this.untrackedState &&
      this.initial !== null &&
      this.memory.byteLength === this.initial.memory.length
    );
  }

  /**
   * Turns a reusable instance into a new agent: back to the state of instantiation, then initialised again. `fill`,
   * when given, brings memory to that state itself (hibernation writes only the bytes that differ); the globals
   * are set here either way.
   */
  reinitialize(fill?: (memory: Uint8Array) => void): GuestOutcome {
    const initial = this.initial!;
    if (fill !== undefined && this.memory.memory !== null) {
      fill(new Uint8Array(this.memory.memory.buffer));
      this.restore({ memory: EMPTY, globals: initial.globals });
    } else this.restore(initial);
    return this.initialize();
  }

  /** The agent's state now: a view of memory (valid until the next run) and the globals' values. */
  captureState(): GuestState {
    return { memory: new Uint8Array(this.memory.memory!.buffer), globals: this.stateGlobals.read() };
  }

  /**
   * Hands the instance to an agent with its own limits (fuel, output, events; the memory and table caps are part
   * of the compiled module, so the same prepared module means the same caps).
   */
  useLimits(limits: Limits): void {
    this.fuelStart = startingFuel(limits);
    this.limits = limits;
    this.ctx.limits = limits;
  }

  /** Hands the instance to an agent with its own host functions and config (a pooled hibernation instance). */
  useHost(host: GuestOptions['host']): void {
    this.host = host ?? NO_HOST;
  }

  /** Memory and globals as instantiation left them (with `keepInitial`), to share with other instances of the module. */
  get initialState(): GuestState | null {
    return this.initial;
  }

  get memoryLimit(): number {
    return this.limits.memoryBytes;
  }

  /** The size of its linear memory now. */
  get memoryBytes(): number {
    return this.memory.byteLength;
  }

  /** The number of mutable globals a state of this module carries. */
  get globalCount(): number {
    return this.stateGlobals.count;
  }

  /**
   * Makes `memoryBytes` the memory's size (growing it; it never shrinks) and hands the memory to `fill`, then sets
   * the globals. Returns false when the memory cannot be brought to that size (larger than the instance's maximum,
   * or already larger).
   */
  restoreState(memoryBytes: number, fill: (memory: Uint8Array) => void, globals: (number | bigint)[]): boolean {
    const memory = this.exports[GUEST_EXPORTS.memory] as WebAssembly.Memory;
    const current = memory.buffer.byteLength;
    if (memoryBytes < current || globals.length !== this.stateGlobals.count) return false;
    if (memoryBytes > current) {
      try {
        memory.grow((memoryBytes - current) / 65536);
      } catch {
        return false;
      }
    }
    fill(new Uint8Array(memory.buffer));
    this.stateGlobals.write(globals);
    this.poisoned = false;
    return true;
  }

  private capture(): Snapshot {
    // (A plugin need not export a memory: then its state is its globals.)
    const memory = this.memory.memory === null ? new Uint8Array() : new Uint8Array(this.memory.memory.buffer).slice();
    const snapshot: Snapshot = { memory, globals: this.stateGlobals.read() };
    if (this.kernel) snapshot.vars = [...this.kernel.vars];
    return snapshot;
  }

  private restore(snapshot: Snapshot): void {
    if (this.memory.memory !== null) new Uint8Array(this.memory.memory.buffer).set(snapshot.memory);
    this.stateGlobals.write(snapshot.globals);
    if (this.kernel && snapshot.vars) this.kernel.restoreVars(snapshot.vars);
  }

  /**
   * Puts a stateless agent back to its post-initialisation snapshot in one memory copy. A memory that grew cannot
   * shrink, and a module that changes tables keeps that change: those instances are replaced instead.
   */
  reset(): void {
    const snapshot = this.snapshot;
    if (snapshot === null) return;
    if (this.untrackedState || this.memory.byteLength !== snapshot.memory.length) {
      this.poisoned = true;
      return;
    }
    this.restore(snapshot);
  }

  /** Handles one message (MessagePack bytes). Never throws for anything the guest does. */
  run(input: Uint8Array): GuestOutcome {
    // The input limit is checked by Agent.runEncoded before the bytes leave the host thread.
    const outcome = this.runInput(input);
    if (!this.poisoned) this.reset();
    return outcome;
  }

  /** Runs a WASI command's `_start` once: exit 0 is 'ok', another code 'exited'; stdout and stderr come along. */
  runCommand(): GuestOutcome {
    const wasi = this.wasi!;
    const outcome = this.call(() => {
      this.resetDepth();
      return wasi.start({ exports: this.exports });
    });
    if (outcome.status === 'exited' || outcome.status === 'ok') outcome.exitCode = outcome.exitCode ?? 0;
    outcome.stdout = wasi.stdout;
    outcome.stderr = wasi.stderr;
    if (wasi.outputDropped > 0 && outcome.status === 'ok') {
      outcome.status = 'limit-exceeded';
      outcome.message = `the program wrote ${wasi.outputDropped} bytes past the output limit of ${this.limits.outputBytes} bytes per stream`;
    }
    return outcome;
  }

  /**
   * Calls an Extism plugin's exported function with `input` in its kernel memory. The output is the plugin's bytes
   * (a PluginOutput); a non-zero return or an error the plugin set is 'error'.
   */
  callExport(name: string, input: Uint8Array): GuestOutcome {
    const kernel = this.kernel!;
    const fn = Object.hasOwn(this.exports, name) ? this.exports[name] : undefined;
    if (typeof fn !== 'function') {
      const names = Object.entries(this.exports)
        .filter(([n, v]) => typeof v === 'function' && !n.startsWith('__sandbox'))
        .map(([n]) => n);
      return this.outcome('invalid-input', {
        message: `the plugin exports no function ${JSON.stringify(name)}; it exports ${names.join(', ') || 'none'}`,
      });
    }
    kernel.begin(input);
    let rc = 0;
    const outcome = this.call(() => {
      this.resetDepth();
      const returned = (fn as Fn)();
      rc = typeof returned === 'number' ? returned : 0;
      return 0;
    });
    if (outcome.status === 'ok') {
      const error = kernel.error;
      if (rc !== 0 || error !== null) {
        const failed = this.outcome('error', { message: error ?? `the plugin's ${name} returned ${rc}` });
        if (rc !== 0) failed.errorCode = rc;
        return failed;
      }
      // The plugin's bytes as they are (no MessagePack round trip inline); a worker's batch encodes them as a bin.
      const output = kernel.output;
      if (output !== null)
        outcome.output = new PluginOutput(output.buffer as ArrayBuffer, output.byteOffset, output.length);
    }
    if (!this.poisoned) this.reset();
    return outcome;
  }

  private runInput(input: Uint8Array): GuestOutcome {
    return this.call(() => {
      this.resetDepth();
      const ptr = (this.alloc(input.length) as number) >>> 0;
      const view = ptr === 0 && input.length > 0 ? null : this.memory.view(ptr, input.length);
      if (view === null) {
        this.ctx.fail(
          'abi-violation',
          `sandbox_alloc(${input.length}) returned ${ptr}, which is not ${input.length} writable bytes of guest memory`,
        );
        return -1;
      }
      view.set(input);
      this.resetDepth();
      return this.handle(ptr, input.length) as number;
    });
  }

  private call(body: () => number): GuestOutcome {
    this.ctx.reset();
    if (this.fuel) this.fuel.value = this.fuelStart;
    if (this.flags) this.flags.value = 0;
    let code: number;
    try {
      code = body();
    } catch (error) {
      if (error instanceof InvalidModule) throw error;
      this.poisoned = true;
      this.readFuel();
      return this.failure(error);
    }
    this.readFuel();
    // Fuel is checked only at function entry and loop headers, so a call can return with the counter already
    // below zero: that run needed more than its limit, exactly as if it had trapped at the next check.
    if (this.fuelLeft !== null && this.fuelLeft < 0n) {
      return this.outcome('out-of-fuel', { message: this.outOfFuelMessage() });
    }
    const violation = this.ctx.violation;
    if (violation !== null) return this.outcome(violation.status, { message: violation.message });
    if (code !== 0 && this.wasi)
      return this.outcome('exited', { exitCode: code, message: `the program exited with code ${code}` });
    if (code !== 0) {
      const lastError = this.ctx.logs.findLast((l) => l.level === 'error');
      return this.outcome('error', {
        errorCode: code,
        message: lastError ? lastError.message : `the agent's handler returned error code ${code}`,
      });
    }
    const raw = this.ctx.output;
    if (raw !== null) {
      const problem = checkMessagePack(raw);
      if (problem !== null)
        return this.outcome('invalid-output', { message: `the agent's output is not MessagePack: ${problem}` });
    }
    const result: GuestOutcome = this.outcome('ok', {});
    if (raw !== null) result.rawOutput = raw;
    return result;
  }

  private failure(error: unknown): GuestOutcome {
    if (error instanceof DeadlinePassed) {
      return this.outcome('timeout', {
        message: `the agent ran past its wall-clock limit of ${this.limits.timeoutMs} ms and was stopped at a host call; raise limits.timeoutMs if the work is legitimate`,
      });
    }
    const flags = this.flags ? Number(this.flags.value) : 0;
    const violation = this.ctx.violation;
    if (flags & METER_FLAGS.outOfFuel) {
      return this.outcome('out-of-fuel', { message: this.outOfFuelMessage() });
    }
    if (flags & METER_FLAGS.stackOverflow) {
      return this.outcome('stack-overflow', {
        message: `the agent exceeded the call depth limit of ${this.limits.stackDepth} frames`,
      });
    }
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      return this.outcome('stack-overflow', {
        message: `the agent exhausted the engine's call stack (${error.message})`,
      });
    }
    if (error instanceof GuestAbort) {
      return this.outcome('error', { message: `the agent aborted: ${error.message}` });
    }
    if (error instanceof HostFault && violation !== null)
      return this.outcome(violation.status, { message: violation.message });
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof this.wa.RuntimeError) {
      if (flags & METER_FLAGS.memoryGrowFailed || this.memoryFull()) {
        return this.outcome('out-of-memory', {
          message: `the agent ran out of memory at ${this.memory.byteLength} bytes (limit ${this.limits.memoryBytes}) and then trapped: ${message}`,
        });
      }
      if (violation !== null)
        return this.outcome(violation.status, { message: `${violation.message}; then the agent trapped: ${message}` });
      // A Rust panic (and any guest that logs why before it traps) says what went wrong in its last error log line;
      // the trap itself is only `unreachable`. Put the reason where callers look first.
      const said = this.ctx.logs.findLast((l) => l.level === 'error')?.message;
      return this.outcome('trap', {
        message: `the agent trapped: ${message}${said === undefined ? '' : ` (after logging: ${said})`}`,
      });
    }
    return this.outcome('crashed', { message: `host error while running the agent: ${message}` });
  }

  /** The instrumented code keeps the remaining depth in locals and only checks it on entry, so every call in needs it set. */
  private resetDepth(): void {
    if (this.depth) this.depth.value = this.limits.stackDepth > 0 ? this.limits.stackDepth : 0x7fffffff;
  }

  private outOfFuelMessage(): string {
    return `the agent used all of its fuel (${this.limits.fuel} units); raise limits.fuel if the work is legitimate`;
  }

  private memoryFull(): boolean {
    return this.memory.byteLength + 65536 > this.limits.memoryBytes;
  }

  /** Reads the meter once per run (each read of an i64 global allocates a BigInt). */
  private readFuel(): void {
    this.fuelLeft = this.fuel && this.limits.fuel > 0 ? (this.fuel.value as bigint) : null;
  }

  private outcome(status: RunStatus, extra: Partial<GuestOutcome>): GuestOutcome {
    let fuelUsed: number | null = null;
    if (this.fuelLeft !== null) {
      const remaining = Number(this.fuelLeft);
      fuelUsed = Math.min(this.limits.fuel, Math.max(0, this.limits.fuel - remaining));
    }
    const result: RunResult = {
      status,
      output: extra.output ?? null,
      events: status === 'ok' ? this.ctx.events : [],
      logs: this.ctx.logs,
      logsDropped: this.ctx.logsDropped,
      fuelUsed,
      memoryPeakBytes: this.memory.byteLength,
      durationMs: 0,
      engine: this.engine,
    };
    if (extra.message !== undefined) result.message = extra.message;
    if (extra.errorCode !== undefined) result.errorCode = extra.errorCode;
    if (extra.exitCode !== undefined) result.exitCode = extra.exitCode;
    return result;
  }
}
