// A loaded agent: run it with a value, get a RunResult. The instance lives in a worker or on the calling thread (inline) and keeps its state between runs.
import { encode } from '../codec.ts';
import { SandboxError } from '../errors.ts';
import type { WorkerHost } from '../worker/host.ts';
import type { InlineHost } from './inline-host.ts';
import { framePluginInput } from '../worker/protocol.ts';
import { hostOutcome } from './outcome.ts';
import { PluginOutput } from './plugin-output.ts';
import type { EncodedRunOptions, EngineName, Isolation, Limits, RunResult } from './types.ts';

export class Agent {
  private closed = false;
  private readonly inline: InlineHost | null;

  /** @internal Created by Sandbox.load. */
  constructor(
    readonly id: number,
    readonly name: string,
    readonly engine: EngineName,
    readonly limits: Readonly<Limits>,
    private readonly host: WorkerHost | InlineHost,
    readonly isolation: Isolation,
    private readonly onClose: (agent: Agent, written: Promise<void> | undefined) => void,
    /** 'extism': an Extism plugin, driven with `call`; 'sandbox': a guest ABI v1 agent, driven with `run`. */
    readonly abi: 'sandbox' | 'extism' = 'sandbox',
  ) {
    this.inline = isolation === 'inline' ? (host as InlineHost) : null;
  }

  /**
   * Calls an Extism plugin's exported function `fn` with `input` (bytes, or a string sent as UTF-8). The result's
   * `output` is a PluginOutput (a Uint8Array with text() and json()), or null when the plugin set none. Never
   * rejects for anything the plugin does; rejects with SANDBOX_CLOSED when the agent or its sandbox is closed.
   */
  async call(fn: string, input: Uint8Array | string = new Uint8Array()): Promise<RunResult<PluginOutput | null>> {
    const framed = this.framePluginCall(fn, input);
    if (!(framed instanceof Uint8Array)) return framed;
    const result =
      this.inline !== null ? this.inline.run(this.id, framed) : await (this.host as WorkerHost).run(this.id, framed);
    return pluginResult(result);
  }

  /**
   * Calls an inline plugin's function synchronously, on this thread (isolation 'inline' only, like runSync). Throws
   * SANDBOX_INVALID_OPTIONS for a plugin in a worker and SANDBOX_CLOSED when closed.
   */
  callSync(fn: string, input: Uint8Array | string = new Uint8Array()): RunResult<PluginOutput | null> {
    if (this.inline === null) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `callSync needs a plugin loaded with isolation 'inline'; ${this.name} runs in a worker: use await agent.call(fn, input)`,
      );
    }
    const framed = this.framePluginCall(fn, input);
    if (!(framed instanceof Uint8Array)) return framed;
    return pluginResult(this.inline.run(this.id, framed));
  }

  /** The checked frame of a plugin call (function name and input), or the outcome that refuses it. */
  private framePluginCall(fn: string, input: Uint8Array | string): Uint8Array | RunResult<null> {
    if (this.abi !== 'extism')
      return this.failed(
        'invalid-input',
        `agent ${this.name} speaks guest ABI v1: use run(input), not call()`,
      ) as RunResult<null>;
    if (typeof fn !== 'string' || fn.length === 0 || fn.length > 1024)
      return this.failed(
        'invalid-input',
        `call() needs the name of an exported function, got ${JSON.stringify(fn)}`,
      ) as RunResult<null>;
    if (typeof input !== 'string' && !(input instanceof Uint8Array))
      return this.failed('invalid-input', 'call() input must be a Uint8Array or a string') as RunResult<null>;
    if (this.closed) throw this.closedError();
    const framed = framePluginInput(fn, input);
    const inputBytes = framed.length - 2 - framed[0]! - (framed[1]! << 8);
    if (inputBytes > this.limits.inputBytes)
      return this.failed(
        'invalid-input',
        `input of ${inputBytes} bytes exceeds the input limit of ${this.limits.inputBytes} bytes`,
      ) as RunResult<null>;
    return framed;
  }

  /**
   * Runs the agent once with `input` (encoded as MessagePack). Resolves to a RunResult and never rejects for
   * anything the agent does; rejects with SandboxError SANDBOX_CLOSED when the agent or its sandbox is closed.
   * `TIn`/`TOut` type the call for the caller; the output is not checked against `TOut`.
   */
  run<TIn = unknown, TOut = unknown>(input: TIn): Promise<RunResult<TOut>> {
    let bytes: Uint8Array;
    try {
      bytes = encode(input);
    } catch (error) {
      return Promise.resolve(
        this.failed(
          'invalid-input',
          `the input cannot be encoded as MessagePack: ${(error as Error).message}`,
        ) as RunResult<TOut>,
      );
    }
    return this.runEncoded(bytes) as Promise<RunResult<TOut>>;
  }

  /**
   * Runs the agent with input that is already MessagePack bytes (as it arrives from a queue). With `digestPrefix`, a
   * worker agent's result may carry `inputDigest` (SHA-256 of prefix and input, computed in the worker); when it
   * does not (an inline agent, a run sent alone), hash it yourself. With `discardOutput`, the output may not come
   * back (null).
   */
  runEncoded(input: Uint8Array, options?: EncodedRunOptions): Promise<RunResult> {
    if (this.abi === 'extism')
      return Promise.resolve(
        this.failed('invalid-input', `agent ${this.name} is an Extism plugin: use call(fn, input), not run()`),
      );
    if (this.closed) return Promise.reject(this.closedError());
    if (input.length > this.limits.inputBytes) return Promise.resolve(this.tooLarge(input));
    if (this.inline !== null) return Promise.resolve(this.inline.run(this.id, input));
    return (this.host as WorkerHost).run(this.id, input, options);
  }

  /**
   * Runs an inline agent once, synchronously, on this thread (isolation 'inline' only: a worker's answer cannot be
   * waited for without blocking). Throws SandboxError SANDBOX_INVALID_OPTIONS for a worker agent, SANDBOX_CLOSED
   * when closed; everything the agent does is a RunResult.
   */
  runSync<TIn = unknown, TOut = unknown>(input: TIn): RunResult<TOut> {
    const inline = this.inline;
    if (inline === null) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `runSync needs an agent loaded with isolation 'inline'; ${this.name} runs in a worker: use await agent.run(input)`,
      );
    }
    if (this.closed) throw this.closedError();
    let bytes: Uint8Array;
    try {
      bytes = encode(input);
    } catch (error) {
      return this.failed(
        'invalid-input',
        `the input cannot be encoded as MessagePack: ${(error as Error).message}`,
      ) as RunResult<TOut>;
    }
    if (bytes.length > this.limits.inputBytes) return this.tooLarge(bytes) as RunResult<TOut>;
    return inline.run(this.id, bytes) as RunResult<TOut>;
  }

  /** Frees the agent's instance (in its worker, or on this thread). Later runs throw SANDBOX_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this, this.host.unload(this.id));
  }

  /** @internal The sandbox closed: the instance is gone with it, so runs throw rather than wait for a worker that no longer exists. */
  markClosed(): void {
    this.closed = true;
  }

  private closedError(): SandboxError {
    return new SandboxError('SANDBOX_CLOSED', `agent ${this.name} is closed`);
  }

  private tooLarge(input: Uint8Array): RunResult {
    return this.failed(
      'invalid-input',
      `input of ${input.length} bytes exceeds the input limit of ${this.limits.inputBytes} bytes`,
    );
  }

  private failed(status: RunResult['status'], message: string): RunResult {
    return hostOutcome(status, this.engine, message);
  }
}

/** A plugin's output as a PluginOutput (a worker's batch hands over plain bytes). */
function pluginResult(result: RunResult): RunResult<PluginOutput | null> {
  if (result.output instanceof Uint8Array && !(result.output instanceof PluginOutput))
    result.output = PluginOutput.copyOf(result.output);
  return result as RunResult<PluginOutput | null>;
}
