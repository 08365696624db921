// A loaded agent: run it with a value, get a RunResult. The instance lives in a worker and keeps its state between runs.
import { encode } from '../codec.ts';
import type { WorkerHost } from '../engine/worker-host.ts';
import { hostOutcome } from './guest.ts';
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
  ) {}

  /**
   * Runs the agent once with `input` (encoded as MessagePack). Resolves to a RunResult; never rejects for anything
   * the agent does. `TIn`/`TOut` type the call for the caller; the output is not checked against `TOut`.
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
