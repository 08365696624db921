// One instantiated component agent and its runs: the glue instantiates our instrumented core modules, we meter them all.
import { hostOutcome, InvalidModule, type GuestOutcome } from '../agent/outcome.ts';
import type { EngineName, Limits, RunResult, RunStatus } from '../agent/types.ts';
import { checkMessagePack } from '../codec.ts';
import type { WasmNamespace } from '../engine/namespace.ts';
import { SANDBOX_EXPORTS, SANDBOX_FLAGS } from '../module/instrument.ts';
import { RunContext } from '../../host/run-context.ts';
import { importObject } from '../../host/import-object.ts';
import type { CompiledComponent } from './compile.ts';
import { componentHostImports } from './host-imports.ts';
import { HOST_INTERFACE_KEY } from './world.ts';

interface MutableGlobal {
  value: number | bigint;
}

/** The meter of one instrumented core instance; `given` is what its fuel global held at the last settlement. */
interface Meter {
  fuel: MutableGlobal | undefined;
  depth: MutableGlobal | undefined;
  flags: MutableGlobal | undefined;
  given: bigint;
}

interface ComponentApi {
  handle(input: Uint8Array): unknown;
  init?: () => unknown;
}

/**
 * Fuel across several core modules (the component's own, and the small shim modules wit-component adds for its
 * imports): each instance has its own fuel global. Whenever control passes through the host (every host call),
 * what each instance used since the last settlement is added to the run's total and every instance is given what
 * remains of the limit; at the end of the run the total is settled once more. A runaway loop therefore stops when
 * the run's total reaches the limit, and out-of-fuel is the total passing the limit: the same on every run.
 */
export class ComponentGuest {
  private ctx: RunContext;
  private readonly meters: Meter[] = [];
  private memory: { buffer: ArrayBuffer } | null = null;
  private api: ComponentApi | null = null;
  /** Fuel the run has used up to the last settlement. */
  private spent = 0n;
  /** A run that trapped leaves the component in a state the component model forbids re-entering. */
  poisoned = false;

  private constructor(
    private readonly wa: WasmNamespace,
    private readonly limits: Limits,
    private readonly engine: EngineName,
    options: { now?: () => bigint },
  ) {
    this.ctx = new RunContext(limits);
    this.imports = componentHostImports(
      () => this.ctx,
      () => this.settle(),
      options,
    );
  }

  private readonly imports: ReturnType<typeof componentHostImports>;

  /** Instantiates the component and calls its `init`, if it has one, under the run limits. Throws InvalidModule. */
  static create(
    wa: WasmNamespace,
    compiled: CompiledComponent,
    limits: Limits,
    engine: EngineName,
    options: { now?: () => bigint } = {},
  ): ComponentGuest | GuestOutcome {
    const guest = new ComponentGuest(wa, limits, engine, options);
    const init = guest.call(() => {
      const api = compiled.instantiate(
        (name) => {
          const module = compiled.modules.get(name);
          if (module === undefined)
            throw new InvalidModule(`jco's glue asked for core module ${name}, which the component does not have`);
          return module;
        },
        { [HOST_INTERFACE_KEY]: guest.imports },
        (module, imports) => guest.instantiateCore(module, imports),
      );
      if (
        api instanceof Promise ||
        typeof api !== 'object' ||
        api === null ||
        typeof (api as ComponentApi).handle !== 'function'
      ) {
        throw new InvalidModule(
          'the component did not instantiate synchronously into an object with `handle` (is it an async component?)',
        );
      }
      guest.api = api as ComponentApi;
      if (typeof guest.api.init === 'function') {
        guest.resetDepth();
        guest.api.init();
      }
      return null;
    });
    if (init.status !== 'ok') {
      init.message = `initialisation failed: ${init.message ?? init.status}`;
      return init;
    }
    return guest;
  }

  /** Handles one message (MessagePack bytes). Never throws for anything the component does. */
  run(input: Uint8Array): GuestOutcome {
    if (this.poisoned || this.api === null)
      return hostOutcome('crashed', this.engine, 'the component trapped in an earlier run and cannot be entered again');
    const api = this.api;
    return this.call(() => {
      this.resetDepth();
      return api.handle(input);
    });
  }

  /** Called by jco's glue for each core module, in its order: instantiate, meter, run its start function metered. */
  private instantiateCore(module: WebAssembly.Module, imports?: WebAssembly.Imports): WebAssembly.Instance {
    let instance: WebAssembly.Instance;
    try {
      instance = new this.wa.Instance(module, importObject(imports ?? {}));
    } catch (error) {
      if (error instanceof this.wa.LinkError)
        throw new InvalidModule(`a core module of the component does not link: ${error.message}`);
      throw error;
    }
    const exports = instance.exports as Record<string, unknown>;
    const remaining = this.remaining();
    const meter: Meter = {
      fuel: exports[SANDBOX_EXPORTS.fuel] as MutableGlobal | undefined,
      depth: exports[SANDBOX_EXPORTS.depth] as MutableGlobal | undefined,
      flags: exports[SANDBOX_EXPORTS.flags] as MutableGlobal | undefined,
      given: remaining,
    };
    if (meter.fuel) meter.fuel.value = remaining;
    if (meter.flags) meter.flags.value = 0;
    if (meter.depth) meter.depth.value = this.depthLimit();
    this.meters.push(meter);
    for (const value of Object.values(exports)) {
      if (this.memory === null && value instanceof this.wa.Memory) this.memory = value;
    }
    const start = exports[SANDBOX_EXPORTS.start];
    if (typeof start === 'function') start();
    return instance;
  }

  private remaining(): bigint {
    return this.metered() ? BigInt(this.limits.fuel) - this.spent : BigInt(Number.MAX_SAFE_INTEGER);
  }

  private metered(): boolean {
    return this.limits.fuel > 0;
  }

  /** Adds what every instance used since the last settlement to the run's total, and hands out what remains. */
  private settle(): void {
    if (!this.metered()) return;
    for (const m of this.meters) {
      if (m.fuel) this.spent += m.given - (m.fuel.value as bigint);
    }
    const remaining = this.remaining();
    for (const m of this.meters) {
      if (!m.fuel) continue;
      m.fuel.value = remaining;
      m.given = remaining;
    }
  }

  private depthLimit(): number {
    return this.limits.stackDepth > 0 ? this.limits.stackDepth : 0x7fffffff;
  }

  /** The instrumented code counts depth down from its global on entry: every call in from the host needs it set. */
  private resetDepth(): void {
    const depth = this.depthLimit();
    for (const m of this.meters) if (m.depth) m.depth.value = depth;
  }

  private call(body: () => unknown): GuestOutcome {
    this.ctx.reset();
    this.spent = 0n;
    const remaining = this.remaining();
    for (const m of this.meters) {
      if (m.fuel) m.fuel.value = m.given = remaining;
      if (m.flags) m.flags.value = 0;
    }
    let value: unknown;
    try {
      value = body();
    } catch (error) {
      if (error instanceof InvalidModule) throw error;
      this.settle();
      // jco throws the `err` case of a `result` return as its payload, a string; anything else is a failure.
      if (typeof error === 'string') return this.finish(null, error);
      this.poisoned = true;
      return this.failure(error);
    }
    this.settle();
    return this.finish(value, null);
  }

  private finish(value: unknown, errorMessage: string | null): GuestOutcome {
    // Fuel is checked at function entries and loop headers, so a run can end with its total past the limit.
    if (this.metered() && this.spent > BigInt(this.limits.fuel))
      return this.outcome('out-of-fuel', this.outOfFuelMessage());
    const violation = this.ctx.violation;
    if (violation !== null) return this.outcome(violation.status, violation.message);
    if (errorMessage !== null)
      return this.outcome('error', errorMessage === '' ? 'the component returned an error' : errorMessage);
    if (value === null || value === undefined) return this.outcome('ok'); // init: result<_, string>
    if (!(value instanceof Uint8Array))
      return this.outcome('invalid-output', `the component's handle returned ${typeof value}, not list<u8>`);
    if (value.length > this.limits.outputBytes) {
      return this.outcome(
        'limit-exceeded',
        `output of ${value.length} bytes exceeds the output limit of ${this.limits.outputBytes} bytes`,
      );
    }
    const problem = checkMessagePack(value);
    if (problem !== null) return this.outcome('invalid-output', `the agent's output is not MessagePack: ${problem}`);
    const result = this.outcome('ok');
    result.rawOutput = value;
    return result;
  }

  private failure(error: unknown): GuestOutcome {
    let flags = 0;
    for (const m of this.meters) if (m.flags) flags |= Number(m.flags.value);
    const message = error instanceof Error ? error.message : String(error);
    if (flags & SANDBOX_FLAGS.outOfFuel || (this.metered() && this.spent > BigInt(this.limits.fuel))) {
      return this.outcome('out-of-fuel', this.outOfFuelMessage());
    }
    if (flags & SANDBOX_FLAGS.stackOverflow)
      return this.outcome(
        'stack-overflow',
        `the agent exceeded the call depth limit of ${this.limits.stackDepth} frames`,
      );
    if (error instanceof RangeError && /call stack/i.test(message))
      return this.outcome('stack-overflow', `the agent exhausted the engine's call stack (${message})`);
    const violation = this.ctx.violation;
    if (error instanceof this.wa.RuntimeError) {
      if (flags & SANDBOX_FLAGS.memoryGrowFailed || this.memoryFull()) {
        return this.outcome(
          'out-of-memory',
          `the agent ran out of memory at ${this.memoryBytes()} bytes (limit ${this.limits.memoryBytes}) and then trapped: ${message}`,
        );
      }
      if (violation !== null)
        return this.outcome(violation.status, `${violation.message}; then the agent trapped: ${message}`);
      return this.outcome('trap', `the agent trapped: ${message}`);
    }
    // jco's glue checks what it lifts out of guest memory (discriminants, bounds, alignment) and throws these.
    if (error instanceof TypeError || error instanceof RangeError) {
      return this.outcome('abi-violation', `the component broke the canonical ABI: ${message}`);
    }
    return this.outcome('crashed', `host error while running the component: ${message}`);
  }

  private memoryBytes(): number {
    return this.memory === null ? 0 : this.memory.buffer.byteLength;
  }

  private memoryFull(): boolean {
    return this.memoryBytes() + 65536 > this.limits.memoryBytes;
  }

  private outOfFuelMessage(): string {
    return `the agent used all of its fuel (${this.limits.fuel} units, summed over the component's core modules); raise limits.fuel if the work is legitimate`;
  }

  private outcome(status: RunStatus, message?: string): GuestOutcome {
    const fuelUsed = this.metered()
      ? Number(this.spent < 0n ? 0n : this.spent > BigInt(this.limits.fuel) ? BigInt(this.limits.fuel) : this.spent)
      : null;
    const result: RunResult = {
      status,
      output: null,
      events: status === 'ok' ? this.ctx.events : [],
      logs: this.ctx.logs,
      logsDropped: this.ctx.logsDropped,
      fuelUsed,
      memoryPeakBytes: this.memoryBytes(),
      durationMs: 0,
      engine: this.engine,
    };
    if (message !== undefined) result.message = message;
    return result;
  }
}
