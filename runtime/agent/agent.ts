// A loaded agent: run it with a value, get a RunResult. The instance lives in a worker or on the calling thread (inline) and keeps its state between runs.
import { encode } from '../codec.ts';
import { SandboxError } from '../errors.ts';
import type { WorkerHost } from '../worker/host.ts';
import type { InlineHost } from './inline-host.ts';
import { hostOutcome } from './outcome.ts';
import type { EngineName, Isolation, Limits, RunResult } from './types.ts';

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
  ) {
    this.inline = isolation === 'inline' ? (host as InlineHost) : null;
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
      return Promise.resolve(this.failed('invalid-input', `the input cannot be encoded as MessagePack: ${(error as Error).message}`) as RunResult<TOut>);
    }
    return this.runEncoded(bytes) as Promise<RunResult<TOut>>;
  }

  /** Runs the agent with input that is already MessagePack bytes (as it arrives from a queue). */
  runEncoded(input: Uint8Array): Promise<RunResult> {
    if (this.closed) return Promise.reject(this.closedError());
    if (input.length > this.limits.inputBytes) return Promise.resolve(this.tooLarge(input));
    if (this.inline !== null) return Promise.resolve(this.inline.run(this.id, input));
    return (this.host as WorkerHost).run(this.id, input);
  }

  /**
   * Runs an inline agent once, synchronously, on this thread (isolation 'inline' only: a worker's answer cannot be
   * waited for without blocking). Throws SandboxError SANDBOX_INVALID_OPTIONS for a worker agent, SANDBOX_CLOSED
   * when closed; everything the agent does is a RunResult.
   */
  runSync<TIn = unknown, TOut = unknown>(input: TIn): RunResult<TOut> {
    const inline = this.inline;
    if (inline === null) {
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `runSync needs an agent loaded with isolation 'inline'; ${this.name} runs in a worker: use await agent.run(input)`);
    }
    if (this.closed) throw this.closedError();
    let bytes: Uint8Array;
    try {
      bytes = encode(input);
    } catch (error) {
      return this.failed('invalid-input', `the input cannot be encoded as MessagePack: ${(error as Error).message}`) as RunResult<TOut>;
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
    return this.failed('invalid-input', `input of ${input.length} bytes exceeds the input limit of ${this.limits.inputBytes} bytes`);
  }

  private failed(status: RunResult['status'], message: string): RunResult {
    return hostOutcome(status, this.engine, message);
  }
}
