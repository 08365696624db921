// One instantiated agent and one run of it, on any WebAssembly-shaped engine: the code a worker runs.
import { GUEST_EXPORTS, IMPORT_MODULE, ABI_VERSION } from '../../host/abi.ts';
import { SANDBOX_EXPORTS as METER_EXPORTS, SANDBOX_FLAGS as METER_FLAGS } from '../module/instrument.ts';
import { envImports, GuestAbort } from '../../host/env-imports.ts';
import { GuestMemory } from '../../host/guest-memory.ts';
import { RunContext } from '../../host/run-context.ts';
import { graphImports, type GraphBridge } from '../../host/graph-imports.ts';
import { sandboxImports } from '../../host/sandbox-imports.ts';
import { WASI_MODULE, WasiHost, type WasiOptions } from '../../host/wasi/index.ts';
import { checkMessagePack } from '../codec.ts';
import type { WasmNamespace } from '../engine/namespace.ts';
import type { EngineName, Limits, RunResult, RunStatus } from './types.ts';

/**
 * A RunResult built in the worker; the worker fills in `durationMs`. The output stays as the guest's MessagePack
 * bytes (`rawOutput`, already checked) and is decoded on the host thread together with the rest of its batch.
 */
export type GuestOutcome = RunResult & { rawOutput?: Uint8Array };

/** An outcome that did not come from running guest code (bad module, host trouble). */
export function hostOutcome(status: RunStatus, engine: EngineName, message?: string): RunResult {
  const result: RunResult = { status, output: null, events: [], logs: [], logsDropped: 0, fuelUsed: null, memoryPeakBytes: 0, durationMs: 0, engine };
  if (message !== undefined) result.message = message;
  return result;
}

/** A module that cannot become an agent: the reason is always status 'invalid-module' with a message. */
export class InvalidModule extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidModule';
  }
}

const HOST_IMPORTS: Record<string, ReadonlySet<string>> = {
  [IMPORT_MODULE]: new Set(['output', 'emit', 'log', 'now', 'random', 'graph', 'graph_result']),
  env: new Set(['abort', 'trace', 'seed']),
};

/** An agent speaks guest ABI v1; a command is a WASI preview 1 program run once from `_start`. */
export type ModuleKind = 'agent' | 'command';

type Fn = (...args: number[]) => unknown;
interface MutableGlobal {
  value: number | bigint;
}

/** Compiles and checks a module's interface. Throws InvalidModule naming what is wrong. */
export function compileAgentModule(wa: WasmNamespace, bytes: Uint8Array, kind: ModuleKind = 'agent'): WebAssembly.Module {
  let module: WebAssembly.Module;
  try {
    module = new wa.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (error) {
    throw new InvalidModule(`not a valid WebAssembly module: ${(error as Error).message}`);
  }
  for (const imp of wa.Module.imports(module)) {
    if (kind === 'command' && imp.module === WASI_MODULE && imp.kind === 'function') continue;
    const known = HOST_IMPORTS[imp.module];
    if (imp.kind !== 'function' || known === undefined || !known.has(imp.name)) {
      throw new InvalidModule(
        `the module imports ${imp.kind} ${imp.module}.${imp.name}, which the host does not provide (guest ABI v${ABI_VERSION} provides ${IMPORT_MODULE}.{output,emit,log,now,random,graph,graph_result} and env.{abort,trace,seed}; see docs/abi.md)`,
      );
    }
  }
  const exports = new Map(wa.Module.exports(module).map((e) => [e.name, e.kind]));
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
      throw new InvalidModule(`the module does not export ${kind} \`${name}\`, which guest ABI v${ABI_VERSION} requires (docs/abi.md)`);
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
  private snapshot: { memory: Uint8Array; globals: [MutableGlobal, number | bigint][] } | null = null;

  private constructor(
    private readonly wa: WasmNamespace,
    module: WebAssembly.Module,
    private readonly limits: Limits,
    private readonly engine: EngineName,
    graph: GraphBridge | undefined,
    private readonly wasi: WasiHost | undefined,
  ) {
    this.ctx = new RunContext(limits);
    const ctx = () => this.ctx;
    const charge = (fuel: number) => {
      if (this.fuel && this.limits.fuel > 0) this.fuel.value = (this.fuel.value as bigint) - BigInt(fuel);
    };
    const imports = {
      [IMPORT_MODULE]: { ...sandboxImports(this.memory, ctx), ...graphImports(this.memory, ctx, graph, charge) },
      env: envImports(this.memory, ctx),
      ...(wasi ? { [WASI_MODULE]: wasi.imports(() => this.memory.memory!) } : {}),
    };
    let instance: WebAssembly.Instance;
    try {
      instance = new wa.Instance(module, imports as unknown as WebAssembly.Imports);
    } catch (error) {
      if (error instanceof wa.LinkError) throw new InvalidModule(`the module's imports do not match the host's: ${error.message}`);
      throw error;
    }
    this.exports = instance.exports as Record<string, unknown>;
    this.memory.memory = this.exports[GUEST_EXPORTS.memory] as WebAssembly.Memory;
    this.alloc = this.exports[GUEST_EXPORTS.alloc] as Fn;
    this.handle = this.exports[GUEST_EXPORTS.handle] as Fn;
    this.fuel = this.exports[METER_EXPORTS.fuel] as MutableGlobal | undefined;
    this.depth = this.exports[METER_EXPORTS.depth] as MutableGlobal | undefined;
    this.flags = this.exports[METER_EXPORTS.flags] as MutableGlobal | undefined;
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
    options: { graph?: GraphBridge | undefined; reset?: boolean; wasi?: WasiHost } = {},
  ): Guest | GuestOutcome {
    const guest = new Guest(wa, module, limits, engine, options.graph, options.wasi);
    const init = guest.call(() => {
      const start = guest.exports[METER_EXPORTS.start] as Fn | undefined;
      if (start) {
        guest.resetDepth();
        start();
      }
      if (guest.wasi) return 0; // a command has no ABI version or init; its work starts at _start
      guest.resetDepth();
      const version = (guest.exports[GUEST_EXPORTS.abiVersion] as Fn)();
      if (version !== ABI_VERSION) {
        throw new InvalidModule(`the module speaks guest ABI version ${String(version)}; this host speaks version ${ABI_VERSION}`);
      }
      const init = guest.exports[GUEST_EXPORTS.init] as Fn | undefined;
      if (typeof init === 'function') {
        guest.resetDepth();
        init();
      }
      return 0;
    });
    if (init.status !== 'ok') {
      init.message = `initialisation failed: ${init.message ?? init.status}`;
      return init;
    }
    if (options.reset) guest.takeSnapshot();
    return guest;
  }

  /**
   * Copies memory and the mutable globals (exported by the instrumenter's `exportGlobals`) as they are now.
   * Restoring them is the instance's state exactly, at the cost of one memory copy, without instantiating.
   */
  private takeSnapshot(): void {
    const globals: [MutableGlobal, number | bigint][] = [];
    for (const [name, value] of Object.entries(this.exports)) {
      if (name.startsWith(METER_EXPORTS.globalPrefix)) globals.push([value as MutableGlobal, (value as MutableGlobal).value]);
    }
    this.snapshot = { memory: new Uint8Array(this.memory.memory!.buffer).slice(), globals };
  }

  /** Puts the instance back to its snapshot; a memory that grew cannot shrink, so that instance is replaced instead. */
  reset(): void {
    const snapshot = this.snapshot;
    if (snapshot === null) return;
    const buffer = this.memory.memory!.buffer;
    if (buffer.byteLength !== snapshot.memory.length) {
      this.poisoned = true;
      return;
    }
    new Uint8Array(buffer).set(snapshot.memory);
    for (const [global, value] of snapshot.globals) global.value = value;
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

  private runInput(input: Uint8Array): GuestOutcome {
    return this.call(() => {
      this.resetDepth();
      const ptr = (this.alloc(input.length) as number) >>> 0;
      const view = ptr === 0 && input.length > 0 ? null : this.memory.view(ptr, input.length);
      if (view === null) {
        this.ctx.fail('abi-violation', `sandbox_alloc(${input.length}) returned ${ptr}, which is not ${input.length} writable bytes of guest memory`);
        return -1;
      }
      view.set(input);
      this.resetDepth();
      return this.handle(ptr, input.length) as number;
    });
  }

  private call(body: () => number): GuestOutcome {
    this.ctx.reset();
    const fuelLimit = this.limits.fuel;
    if (this.fuel) this.fuel.value = BigInt(fuelLimit > 0 ? fuelLimit : Number.MAX_SAFE_INTEGER);
    if (this.flags) this.flags.value = 0;
    let code: number;
    try {
      code = body();
    } catch (error) {
      if (error instanceof InvalidModule) throw error;
      this.poisoned = true;
      return this.failure(error);
    }
    // Fuel is checked only at function entry and loop headers, so a call can return with the counter already
    // below zero: that run needed more than its limit, exactly as if it had trapped at the next check.
    if (this.fuel && this.limits.fuel > 0 && (this.fuel.value as bigint) < 0n) {
      return this.outcome('out-of-fuel', { message: this.outOfFuelMessage() });
    }
    const violation = this.ctx.violation;
    if (violation !== null) return this.outcome(violation.status, { message: violation.message });
    if (code !== 0 && this.wasi) return this.outcome('exited', { exitCode: code, message: `the program exited with code ${code}` });
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
      if (problem !== null) return this.outcome('invalid-output', { message: `the agent's output is not MessagePack: ${problem}` });
    }
    const result: GuestOutcome = this.outcome('ok', {});
    if (raw !== null) result.rawOutput = raw;
    return result;
  }

  private failure(error: unknown): GuestOutcome {
    const flags = this.flags ? Number(this.flags.value) : 0;
    const violation = this.ctx.violation;
    if (flags & METER_FLAGS.outOfFuel) {
      return this.outcome('out-of-fuel', { message: this.outOfFuelMessage() });
    }
    if (flags & METER_FLAGS.stackOverflow) {
      return this.outcome('stack-overflow', { message: `the agent exceeded the call depth limit of ${this.limits.stackDepth} frames` });
    }
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      return this.outcome('stack-overflow', { message: `the agent exhausted the engine's call stack (${error.message})` });
    }
    if (error instanceof GuestAbort) {
      return this.outcome('error', { message: `the agent aborted: ${error.message}` });
    }
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof this.wa.RuntimeError) {
      if (flags & METER_FLAGS.memoryGrowFailed || this.memoryFull()) {
        return this.outcome('out-of-memory', { message: `the agent ran out of memory at ${this.memory.byteLength} bytes (limit ${this.limits.memoryBytes}) and then trapped: ${message}` });
      }
      if (violation !== null) return this.outcome(violation.status, { message: `${violation.message}; then the agent trapped: ${message}` });
      return this.outcome('trap', { message: `the agent trapped: ${message}` });
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

  private outcome(status: RunStatus, extra: Partial<GuestOutcome>): GuestOutcome {
    let fuelUsed: number | null = null;
    if (this.fuel && this.limits.fuel > 0) {
      const remaining = Number(this.fuel.value);
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
