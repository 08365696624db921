// What one run collects through host imports: output, events, logs, and the first misuse that fails the run.
import type { AgentEvent, AgentLog, Limits, RunStatus } from '../runtime/agent/types.ts';

export interface Violation {
  status: Extract<RunStatus, 'abi-violation' | 'limit-exceeded'>;
  message: string;
}

/**
 * Thrown by an import that cannot let the guest go on (a bad address into Extism's kernel memory): the run stops
 * with the violation the import recorded first, never as a host crash.
 */
export class HostFault extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostFault';
  }
}

export class RunContext {
  output: Uint8Array | null = null;
  outputValue: unknown = null;
  events: AgentEvent[] = [];
  eventBytes = 0;
  logs: AgentLog[] = [];
  logsDropped = 0;
  /** UTF-8 bytes of the lines in `logs`. */
  logBytes = 0;
  violation: Violation | null = null;
  graphCalls = 0;
  /** The response of the last graph() call, waiting for graph_result(). */
  graphResponse: Uint8Array | null = null;
  hostCalls = 0;
  /** Bytes of host-function payloads and answers so far, both ways. */
  hostCallBytes = 0;
  /** The answer of the last call() (or its error text), waiting for call_result(). */
  callResponse: Uint8Array | null = null;
  limits: Limits;

  constructor(limits: Limits) {
    this.limits = limits;
  }

  reset(): void {
    this.output = null;
    this.outputValue = null;
    this.events = [];
    this.eventBytes = 0;
    this.logs = [];
    this.logsDropped = 0;
    this.logBytes = 0;
    this.violation = null;
    this.graphCalls = 0;
    this.graphResponse = null;
    this.hostCalls = 0;
    this.hostCallBytes = 0;
    this.callResponse = null;
  }

  /** A log line from the host about this run, under the same cap as the guest's own. */
  log(level: AgentLog['level'], message: string): void {
    if (this.admitLog(Buffer.byteLength(message))) this.logs.push({ level, message });
  }

  /**
   * Whether a log line of `byteLength` bytes fits the run's log limits (count, bytes per line, bytes per run); if
   * not it is counted as dropped. Every log import asks here before it decodes the line, so a guest cannot make
   * the host hold more log text than `logBytes`.
   */
  admitLog(byteLength: number): boolean {
    const l = this.limits;
    if (this.logs.length >= l.maxLogs || byteLength > l.logMessageBytes || this.logBytes + byteLength > l.logBytes) {
      this.logsDropped++;
      return false;
    }
    this.logBytes += byteLength;
    return true;
  }

  /** Records the first misuse only: it is the one that explains the rest. */
  fail(status: Violation['status'], message: string): void {
    if (this.violation === null) this.violation = { status, message };
  }
}
