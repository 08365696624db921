// A loaded agent: run it with a value, get a RunResult. The instance lives in a worker and keeps its state between runs.
import { encode } from '../codec.ts';
import type { WorkerHost } from '../worker/host.ts';
import { framePluginInput } from '../worker/protocol.ts';
import { hostOutcome } from './outcome.ts';
import { PluginOutput } from './plugin-output.ts';
import type { EngineName, Limits, RunResult } from './types.ts';

export class Agent {
  private closed = false;

  /** @internal Created by Sandbox.load. */
  constructor(
    readonly id: number,
    readonly name: string,
    readonly engine: EngineName,
    readonly limits: Readonly<Limits>,
    private readonly host: WorkerHost,
    private readonly onClose: (agent: Agent, written: Promise<void> | undefined) => void,
    /** 'extism': an Extism plugin, driven with `call`; 'sandbox': a guest ABI v1 agent, driven with `run`. */
    readonly abi: 'sandbox' | 'extism' = 'sandbox',
  ) {}

  /**
   * Calls an Extism plugin's exported function `fn` with `input` (bytes, or a string sent as UTF-8). The result's
   * `output` is a PluginOutput (a Uint8Array with text() and json()), or null when the plugin set none.
   */
  async call(fn: string, input: Uint8Array | string = new Uint8Array()): Promise<RunResult> {
    if (this.abi !== 'extism') return this.failed('invalid-input', `agent ${this.name} speaks guest ABI v1: use run(input), not call()`);
    if (typeof fn !== 'string' || fn.length === 0 || fn.length > 1024) return this.failed('invalid-input', `call() needs the name of an exported function, got ${JSON.stringify(fn)}`);
    const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
    if (!(bytes instanceof Uint8Array)) return this.failed('invalid-input', 'call() input must be a Uint8Array or a string');
    if (this.closed) return this.failed('crashed', `agent ${this.name} is closed`);
    if (bytes.length > this.limits.inputBytes) {
      return this.failed('invalid-input', `input of ${bytes.length} bytes exceeds the input limit of ${this.limits.inputBytes} bytes`);
    }
    const result = await this.host.run(this.id, framePluginInput(fn, bytes));
    if (result.output instanceof Uint8Array) result.output = PluginOutput.copyOf(result.output);
    return result;
  }

  /** Runs the agent once with `input` (encoded as MessagePack). Resolves to a RunResult; never rejects for anything the agent does. */
  run(input: unknown): Promise<RunResult> {
    let bytes: Uint8Array;
    try {
      bytes = encode(input);
    } catch (error) {
      return Promise.resolve(this.failed('invalid-input', `the input cannot be encoded as MessagePack: ${(error as Error).message}`));
    }
    return this.runEncoded(bytes);
  }

  /** Runs the agent with input that is already MessagePack bytes (as it arrives from a queue). */
  runEncoded(input: Uint8Array): Promise<RunResult> {
    if (this.abi === 'extism') return Promise.resolve(this.failed('invalid-input', `agent ${this.name} is an Extism plugin: use call(fn, input), not run()`));
    if (this.closed) return Promise.resolve(this.failed('crashed', `agent ${this.name} is closed`));
    if (input.length > this.limits.inputBytes) {
      return Promise.resolve(this.failed('invalid-input', `input of ${input.length} bytes exceeds the input limit of ${this.limits.inputBytes} bytes`));
    }
    return this.host.run(this.id, input);
  }

  /** Frees the agent's instance in its worker. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this, this.host.unload(this.id));
  }

  private failed(status: RunResult['status'], message: string): RunResult {
    return hostOutcome(status, this.engine, message);
  }
}
