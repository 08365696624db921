// The host thread's handle on one agent worker: batches requests, enforces wall-clock timeouts, replaces a killed worker.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Worker, type TransferListItem } from 'node:worker_threads';
import { hostOutcome } from '../agent/outcome.ts';
import type { EncodedRunOptions, RunResult } from '../agent/types.ts';
import {
  PROGRESS_BYTES,
  PROGRESS_SEQ,
  PROGRESS_STARTED,
  type Completion,
  type FromWorker,
  type CommandRequest,
  type LoadRequest,
  type Registration,
  type RunRequest,
  type TemplateRequest,
  type ToWorker,
} from './protocol.ts';
import type { ComponentRequest } from './protocol.ts';
import type { HibernationSettings, ResidencyCounts } from '../hibernation/hibernator.ts';
import { packRuns, transferList, unpackCompletions } from './batch-codec.ts';
import { serveHostCalls } from './host-call.ts';
import type { HostCallReply, HostCallRequest } from '../../host/host-call.ts';
import { createRunChannel, REQUEST_CAPACITY, RunChannelHost } from './run-channel.ts';

interface Pending {
  seq: number;
  agentId: number;
  timeoutMs: number;
  resolve: (result: RunResult) => void;
  engine: RunResult['engine'];
  /** The request to send again if the worker is replaced before it answers. */
  request: RunRequest | ControlRequest;
}

/** Requests answered by one completion that are not runs. */
type ControlRequest =
  | LoadRequest
  | CommandRequest
  | ComponentRequest
  | TemplateRequest
  | { t: 'drain'; seq: number }
  | { t: 'unload'; agentId: number; seq: number };

type AgentSpec = Omit<LoadRequest, 't' | 'seq'>;

/** A hibernating agent: registered with its worker, instantiated there only while resident. */
export interface SleepySpec {
  agentId: number;
  key: string;
  moduleHash: string;
  bytes: Uint8Array;
  limits: AgentSpec['limits'];
  engine: AgentSpec['engine'];
  stateKey: string;
  keepState: boolean;
  host?: LoadRequest['host'];
  exportState?: true;
  /** Sent with the first registration only: a replaced worker's agents wake from the store. */
  initialState?: Uint8Array | null;
}

/** Who made a graph call, as the host's own records say (never the worker's word): the agent, and its run's time left. */
export interface GraphCaller {
  /** 0 for a WASI command or a component (they have no grants). */
  agentId: number;
  remainingMs: number;
  /** The request (run) that made the call: with the agent, a run id for host functions' ctx. */
  seq: number;
}

/** A deeper stack than Node's default ~1 MB, so the emulator (which recurses per guest call) reaches the 10,000-frame default depth. */
const WORKER_LIMITS = { stackSizeMb: 16 };

/**
 * Default heap of an agent worker. What a guest makes the host side hold as values (log lines, WASI output) lives
 * on this heap: past it V8 usually stops this worker only and the run that caused it is reported, but it can abort
 * the process (nodejs/node#47224), so log limits that could fill half of it are refused at load
 * (`checkLogsFitHeap`). Event payloads are byte buffers outside it, bounded by `eventBytes`.
 */
export const DEFAULT_WORKER_HEAP_MB = 1024;

/**
 * A worker inherits the host's node flags, but refuses some given explicitly: `--input-type` (from `node -e`) stops it
 * from starting. Only then are the flags passed explicitly, keeping module-loading options and dropping V8 ones (process-wide anyway).
 */
const execArgvOption = () => {
  const execArgv = workerExecArgv();
  return execArgv === undefined ? {} : { execArgv };
};

function workerExecArgv(): string[] | undefined {
  if (!process.execArgv.some((arg) => arg.startsWith('--input-type'))) return undefined;
  const keep = /^(--import|--require|-r|--loader|--experimental-|--conditions|-C|--no-warnings|--enable-source-maps)/;
  const withValue = new Set(['--import', '--require', '-r', '--loader', '--conditions', '-C']);
  const argv = process.execArgv;
  return argv.filter((arg, i) => keep.test(arg) || (i > 0 && withValue.has(argv[i - 1]!)));
}

/** How long the host waits for a state write or a drain to be answered: disk work, not agent code. */
const CONTROL_TIMEOUT_MS = 30_000;

/** The bytes of a load whose module the worker has already compiled (LoadRequest.bytes). */
const NO_BYTES = new Uint8Array(0);

/** Runs per message to the worker: large enough to amortise a message, small enough to keep both threads busy. */
const BATCH = 256;

/**
 * While the worker holds this many unanswered runs, new ones wait for its next answer instead of going at once:
 * a busy worker then receives a few large batches rather than a stream of tiny ones. An idle worker (a caller
 * awaiting one run at a time) gets each run immediately.
 */
const COALESCE_BELOW = 32;

const sourceMode = import.meta.url.endsWith('.ts');
const workerUrl = new URL(sourceMode ? './main.ts' : './main.js', import.meta.url);

/** Running from TypeScript sources (tests, benchmarks): the worker registers tsx before importing its entry. */
function sourceWorker(
  workerData: unknown,
  transferList: TransferListItem[],
  resourceLimits: typeof WORKER_LIMITS,
): Worker {
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(boot, { eval: true, workerData, transferList, resourceLimits, ...execArgvOption() });
}

export class WorkerHost {
  private worker: Worker | null = null;
  private progressSeq!: Int32Array;
  private progressStarted!: Float64Array;
  private readonly pending = new Map<number, Pending>();
  /** SANDBOX_RUN_CHANNEL=off (read when the host is made) sends every run by message: bench/calls compares the two. */
  private readonly useRunChannel = process.env['SANDBOX_RUN_CHANNEL'] !== 'off';
  /** The current worker's shared-memory run channel, and the messages posted to that worker so far. */
  private channel: RunChannelHost | null = null;
  private posted = 0;
  private outbox: RunRequest[] = [];
  private flushScheduled = false;
  /** Runs sent to the worker and not answered yet. */
  private runsAtWorker = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private watchdogDue = 0;
  /** The smallest timeout among pending requests is at least this; used to re-arm without scanning them. */
  private minTimeoutMs = Infinity;
  private readonly agents = new Map<number, AgentSpec | SleepySpec>();
  /** Preparation keys the current worker has compiled (a load of it succeeded there). */
  private compiledKeys = new Set<string>();
  /** Templates of hibernating agents' modules, by key: the worker's answer, and the request to send a new worker. */
  private readonly templates = new Map<string, { ready: Promise<RunResult>; request: Omit<TemplateRequest, 'seq'> }>();
  /** Hibernating agents loaded since the last message to the worker; they go before anything else. */
  private registrations: Registration[] = [];
  private seq = 0;
  private closed = false;
  /** Resident and hibernated agents in the worker, as of its last answer. */
  residency: ResidencyCounts | null = null;

  /**
   * `graph` answers agents' graph requests (MessagePack in, MessagePack out); absent when no graph service is
   * configured. `hibernation` lets the worker hibernate stateful agents to a store.
   */
  constructor(
    private readonly graph?: (request: Uint8Array, caller: GraphCaller) => Promise<Uint8Array>,
    private readonly hibernation?: HibernationSettings,
    private readonly heapMb: number = DEFAULT_WORKER_HEAP_MB,
    /** Answers agents' host-function calls and HTTP requests (runtime/capabilities/); never rejects. */
    private readonly hostCall?: (request: HostCallRequest, caller: GraphCaller) => Promise<HostCallReply>,
  ) {}

  /** How many workers this host has replaced after a timeout or crash. */
  restarts = 0;
  /** Worker deaths since the last answer from a worker: a worker that cannot even start must not be respawned forever. */
  private deathsWithoutAnswer = 0;

  /** Hibernating agents whose load waits for their module's template: counted, so concurrent loads spread over hosts. */
  private sleepyLoading = 0;

  get agentCount(): number {
    return this.agents.size + this.sleepyLoading;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  load(spec: AgentSpec): Promise<RunResult> {
    this.agents.set(spec.agentId, spec);
    const request: LoadRequest = { t: 'load', seq: this.nextSeq(), ...spec };
    const promise = this.track(request.seq, spec, request);
    this.flushRuns();
    // A module the worker has compiled goes without its bytes (the worker would copy them for each agent). The
    // pending request keeps them, so a replaced worker gets them again. Plugins read their bytes at every load.
    this.post(spec.plugin === undefined && this.compiledKeys.has(spec.key) ? { ...request, bytes: NO_BYTES } : request);
    return promise;
  }

  /** Runs a WASI command once in this host's worker (no agent stays loaded). */
  command(spec: Omit<CommandRequest, 't' | 'seq'>): Promise<RunResult> {
    const request: CommandRequest = { t: 'command', seq: this.nextSeq(), ...spec };
    const promise = this.track(request.seq, { agentId: 0, limits: spec.limits, engine: spec.engine }, request);
    this.flushRuns();
    this.post(request);
    return promise;
  }

  /** Runs a WebAssembly component once in this host's worker (no agent stays loaded). */
  component(spec: Omit<ComponentRequest, 't' | 'seq'>): Promise<RunResult> {
    const request: ComponentRequest = { t: 'component', seq: this.nextSeq(), ...spec };
    const promise = this.track(request.seq, { agentId: 0, limits: spec.limits, engine: spec.engine }, request);
    this.flushRuns();
    this.post(request);
    return promise;
  }

  /**
   * Loads a hibernating agent: the first of a module makes the worker compile it and initialise one instance; the
   * others are only registered (batched into the next message), and get an instance when their first message comes.
   */
  async loadSleepy(spec: SleepySpec): Promise<RunResult> {
    let template = this.templates.get(spec.key);
    if (!template) {
      const request: Omit<TemplateRequest, 'seq'> = {
        t: 'template',
        key: spec.key,
        moduleHash: spec.moduleHash,
        bytes: spec.bytes,
        limits: spec.limits,
        engine: spec.engine,
      };
      const seq = this.nextSeq();
      const ready = this.track(seq, { agentId: 0, limits: spec.limits, engine: spec.engine }, { ...request, seq });
      this.post({ ...request, seq });
      template = { ready, request };
      this.templates.set(spec.key, template);
    }
    this.sleepyLoading++;
    const result = await template.ready.finally(() => this.sleepyLoading--);
    if (result.status !== 'ok') {
      if (this.templates.get(spec.key) === template) this.templates.delete(spec.key);
      return result;
    }
    if (this.closed) return hostOutcome('crashed', spec.engine, 'the sandbox was closed while the agent was loading');
    this.agents.set(spec.agentId, spec);
    this.registrations.push(this.registration(spec, this.registrations.at(-1)));
    delete spec.initialState;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flushRuns());
    }
    return hostOutcome('ok', spec.engine);
  }

  /**
   * Frees the agent in its worker. For a keyed hibernating agent, resolves once its state is written and committed
   * (a load of the same key waits for that); otherwise returns undefined.
   */
  unload(agentId: number): Promise<void> | undefined {
    const spec = this.agents.get(agentId);
    if (!spec || !this.agents.delete(agentId)) return undefined;
    if (!this.worker) return undefined;
    if (!('stateKey' in spec) || !spec.keepState || this.closed) {
      this.post({ t: 'unload', agentId });
      return undefined;
    }
    const seq = this.nextSeq();
    const request = { t: 'unload' as const, agentId, seq };
    const written = this.trackControl(seq, spec.engine, request);
    this.post(request);
    return written.then(() => undefined);
  }

  /** `digestPrefix`: have the worker hash it with the input (the result's `inputDigest`); a run that goes through
   *  the shared slot comes back without one (and with its output), and the caller hashes it. */
  run(agentId: number, input: Uint8Array, options?: EncodedRunOptions): Promise<RunResult> {
    const spec = this.agents.get(agentId);
    if (!spec) return Promise.resolve(hostOutcome('crashed', 'wasm', `agent ${agentId} is not loaded`));
    // One shape for every request (packRuns reads them all in one loop).
    const request: RunRequest = {
      seq: this.nextSeq(),
      agentId,
      input,
      digestPrefix: options?.digestPrefix,
      discardOutput: options?.discardOutput,
    };
    const promise = this.track(request.seq, spec, request, false);
    // A full batch goes at once, so the worker starts while the caller is still submitting. A run alone at the end
    // of the tick, to an idle worker, goes through the shared slot (flushRuns); runs submitted together go as one
    // message, which wakes the worker once rather than once for the first run and again for the rest.
    if (this.outbox.push(request) >= BATCH) this.flushRuns();
    else if (!this.flushScheduled && this.runsAtWorker < COALESCE_BELOW) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flushRuns());
    }
    // Otherwise the worker is busy: the run waits for its next answer and goes with the others (onMessage).
    return promise;
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
    for (const p of this.pending.values())
      p.resolve(hostOutcome('crashed', p.engine, 'the sandbox was closed before the run finished'));
    this.pending.clear();
    this.outbox = [];
    const worker = this.worker;
    this.worker = null;
    this.closeChannel();
    if (worker) await worker.terminate();
  }

  /** Hibernating agents' changed states written and on disk, so the next process wakes them as they were. */
  private async drain(): Promise<void> {
    if (!this.hibernation || !this.worker || this.templates.size === 0 || this.closed) return;
    const seq = this.nextSeq();
    const request = { t: 'drain' as const, seq };
    const drained = this.trackControl(seq, 'wasm', request);
    this.post(request);
    const result = await drained;
    if (result.status !== 'ok') process.emitWarning(`hibernation: ${result.message ?? result.status}`);
  }

  /** Waits for a request that runs no guest code (a state write, a drain): bounded by CONTROL_TIMEOUT_MS, not an agent's limit. */
  private trackControl(seq: number, engine: AgentSpec['engine'], request: ControlRequest): Promise<RunResult> {
    return this.track(
      seq,
      { agentId: 0, limits: { timeoutMs: CONTROL_TIMEOUT_MS } as AgentSpec['limits'], engine },
      request,
    );
  }

  private registration(spec: SleepySpec, previous: Registration | undefined): Registration {
    const r: Registration = {
      agentId: spec.agentId,
      key: spec.key,
      engine: spec.engine,
      stateKey: spec.stateKey,
      keepState: spec.keepState,
    };
    if (previous === undefined || this.agents.get(previous.agentId)?.limits !== spec.limits) r.limits = spec.limits;
    if (spec.host) r.host = spec.host;
    if (spec.exportState) r.exportState = true;
    if (spec.initialState !== undefined) r.initialState = spec.initialState;
    return r;
  }

  /** Sequence numbers wrap below 2^31 (the watchdog's shared slot is an Int32); no request waits that long. */
  private nextSeq(): number {
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  /** Records a request awaiting its answer. Runs arm the watchdog when they are sent, once per batch (flushRuns);
   *  other requests arm it here. */
  private track(
    seq: number,
    spec: Pick<AgentSpec, 'agentId' | 'limits' | 'engine'>,
    request: RunRequest | ControlRequest,
    arm = true,
  ): Promise<RunResult> {
    const timeoutMs = spec.limits.timeoutMs;
    return new Promise<RunResult>((resolve) => {
      this.pending.set(seq, { seq, agentId: spec.agentId, timeoutMs, resolve, request, engine: spec.engine });
      if (timeoutMs < this.minTimeoutMs) this.minTimeoutMs = timeoutMs;
      if (arm) this.armWatchdog(timeoutMs);
    });
  }

  /** Sends queued runs in slices, so the worker starts on the first while the host still encodes the rest. */
  private flushRuns(): void {
    this.flushScheduled = false;
    const outbox = this.outbox;
    if (outbox.length === 0) {
      if (this.registrations.length > 0 && !this.closed) {
        this.sendRegistrations(this.ensureWorker());
        if (this.pending.size === 0) this.worker?.unref(); // nothing to wait for: do not hold the process open
      }
      return;
    }
    this.outbox = [];
    // One run to an idle worker with nothing else queued: the shared slot (run-channel.ts), no message.
    const channel = this.channel;
    if (
      outbox.length === 1 &&
      channel !== null &&
      !channel.busy &&
      this.runsAtWorker === 0 &&
      this.registrations.length === 0 &&
      outbox[0]!.input.length <= REQUEST_CAPACITY
    ) {
      this.runsAtWorker++;
      this.worker!.ref();
      void this.sendThroughChannel(channel, outbox[0]!);
    } else {
      this.runsAtWorker += outbox.length;
      for (let i = 0; i < outbox.length; i += BATCH) {
        const runs = packRuns(outbox.slice(i, i + BATCH));
        this.post({ t: 'runs', runs }, transferList(runs));
      }
    }
    // One deadline for the batch: no run in it can time out sooner than the smallest timeout pending.
    this.armWatchdog(this.minTimeoutMs);
  }

  /** Completions of a run sent through the shared slot come back there (or, when too large, as a message). */
  private async sendThroughChannel(channel: RunChannelHost, request: RunRequest): Promise<void> {
    channel.send(request.seq, request.agentId, request.input, this.posted);
    // Ends when the answer is read (here or by onMessage), or the worker went away (replay() sent the run again).
    while (await channel.wait()) this.readChannel(channel);
  }

  private readChannel(channel: RunChannelHost): void {
    const packed = channel.answer();
    if (packed) this.received(unpackCompletions(packed));
  }

  private post(message: ToWorker, transfer?: ArrayBuffer[]): void {
    if (this.closed) return;
    const worker = this.ensureWorker();
    this.sendRegistrations(worker);
    this.posted++;
    worker.postMessage(message, transfer);
  }

  /** Registered agents must be known to the worker before any run or unload of theirs arrives. */
  private sendRegistrations(worker: Worker): void {
    if (this.registrations.length === 0) return;
    const agents = this.registrations;
    this.registrations = [];
    this.posted++;
    worker.postMessage({ t: 'register', agents } satisfies ToWorker);
  }

  private ensureWorker(): Worker {
    if (this.worker) {
      this.worker.ref();
      return this.worker;
    }
    this.compiledKeys = new Set(); // a new worker has compiled nothing
    const progress = new SharedArrayBuffer(PROGRESS_BYTES);
    this.progressSeq = new Int32Array(progress);
    this.progressStarted = new Float64Array(progress);
    // One synchronous bridge for everything a guest asks of the host thread: graph requests (bytes), host-function
    // calls and HTTP requests (HostCallRequest). The worker sleeps on the shared word until the answer is posted.
    const graph = this.graph;
    const hostCall = this.hostCall;
    const progressSeq = this.progressSeq;
    const progressStarted = this.progressStarted;
    const { port, signal } = serveHostCalls((request) => {
      // The worker is blocked in this call, so its progress slot names the request (and agent) that made it.
      const seq = Atomics.load(progressSeq, PROGRESS_SEQ);
      const current = this.pending.get(seq);
      const elapsed = performance.timeOrigin + performance.now() - progressStarted[PROGRESS_STARTED]!;
      const caller: GraphCaller = {
        agentId: current?.agentId ?? 0,
        remainingMs: current === undefined ? 0 : current.timeoutMs - elapsed,
        seq,
      };
      if (request instanceof Uint8Array) return graph ? graph(request, caller) : Promise.resolve(new Uint8Array());
      return hostCall
        ? hostCall(request, caller)
        : Promise.resolve({ error: 'this sandbox has no host functions' } satisfies HostCallReply);
    });
    // Hibernating workers report residency with every answer (Sandbox.residency()), so their answers stay messages.
    const runChannel = this.hibernation || !this.useRunChannel ? undefined : createRunChannel();
    const workerData: Record<string, unknown> = {
      progress,
      hibernation: this.hibernation,
      runChannel,
      graph: graph !== undefined,
      hostPort: port,
      hostSignal: signal,
    };
    const transferList: TransferListItem[] = [port];
    const resourceLimits = { ...WORKER_LIMITS, maxOldGenerationSizeMb: this.heapMb };
    const worker = sourceMode
      ? sourceWorker(workerData, transferList, resourceLimits)
      : new Worker(workerUrl, { workerData, transferList, resourceLimits, ...execArgvOption() });
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        this.onWorkerGone(
          worker,
          `the agent worker ran out of its ${this.heapMb} MB heap (host-side memory the run made it hold, such as log lines) and was replaced`,
          'limit-exceeded',
        );
      } else this.onWorkerGone(worker, `the agent worker failed: ${error.message}`);
    });
    worker.on('exit', (code) => this.onWorkerGone(worker, `the agent worker exited with code ${code}`));
    this.worker = worker;
    this.channel = runChannel ? new RunChannelHost(runChannel) : null;
    this.posted = 0;
    return worker;
  }

  private onMessage(message: FromWorker): void {
    if (message.residency) this.residency = message.residency;
    if (message.t === 'residency') return;
    // The worker answered the slot before it sent this: completions keep the order the worker made them in.
    if (this.channel?.busy) this.readChannel(this.channel);
    this.received(unpackCompletions(message.packed));
  }

  private received(completions: Completion[]): void {
    this.deathsWithoutAnswer = 0;
    for (const c of completions) this.complete(c);
    if (this.outbox.length > 0) this.flushRuns();
    if (this.pending.size === 0) {
      this.minTimeoutMs = Infinity;
      this.worker?.unref();
      if (this.watchdog) clearTimeout(this.watchdog);
      this.watchdog = null;
    }
  }

  private complete(c: Completion): void {
    const p = this.pending.get(c.seq);
    if (!p) return;
    this.pending.delete(c.seq);
    if (!('t' in p.request)) this.runsAtWorker--;
    if ('t' in p.request && p.request.t === 'load') {
      if (c.result.status !== 'ok') this.agents.delete(p.agentId);
      else this.compiledKeys.add(p.request.key);
    }
    p.resolve(c.result);
  }

  /** Makes sure the watchdog wakes no later than `timeoutMs` from now (no request can time out sooner). */
  private armWatchdog(timeoutMs: number): void {
    if (this.closed) return;
    const due = performance.now() + timeoutMs;
    if (this.watchdog !== null) {
      if (this.watchdogDue <= due) return;
      clearTimeout(this.watchdog);
    }
    this.watchdogDue = due;
    this.watchdog = setTimeout(() => this.check(), timeoutMs);
  }

  /** Runs when the earliest possible deadline passes: kills the worker only if its current request is past its own. */
  private check(): void {
    this.watchdog = null;
    if (this.pending.size === 0 || this.closed) return;
    const seq = Atomics.load(this.progressSeq, PROGRESS_SEQ);
    const current = seq === 0 ? undefined : this.pending.get(seq);
    if (current) {
      const elapsed = performance.timeOrigin + performance.now() - this.progressStarted[PROGRESS_STARTED]!;
      if (elapsed >= current.timeoutMs) {
        this.kill(current, elapsed);
        return;
      }
      this.armWatchdog(Math.max(1, current.timeoutMs - elapsed));
      return;
    }
    this.armWatchdog(this.minTimeoutMs);
  }

  /** The worker is gone: a run waiting in its channel gives up (replay or close settles it). */
  private closeChannel(): void {
    this.channel?.close();
    this.channel = null;
  }

  private kill(hung: Pending, elapsedMs: number): void {
    const worker = this.worker;
    this.worker = null;
    this.closeChannel();
    this.pending.delete(hung.seq);
    if ('t' in hung.request && hung.request.t === 'load') this.agents.delete(hung.agentId);
    // A module whose initialisation hangs must not be sent to the new worker again.
    if ('t' in hung.request && hung.request.t === 'template') this.templates.delete(hung.request.key);
    const result = hostOutcome(
      'timeout',
      hung.engine,
      `the agent ran past its wall-clock limit of ${hung.timeoutMs} ms and was stopped; raise limits.timeoutMs if the work is legitimate`,
    );
    result.durationMs = elapsedMs;
    hung.resolve(result);
    void worker?.terminate();
    this.restarts++;
    this.replay();
  }

  private onWorkerGone(worker: Worker, reason: string, status: 'crashed' | 'limit-exceeded' = 'crashed'): void {
    if (this.worker !== worker) return; // already replaced by kill(), or closed
    this.worker = null;
    this.closeChannel();
    if (this.closed) return;
    this.restarts++;
    // The request running when the worker died is the one that killed it; everything else is sent again.
    const seq = Atomics.load(this.progressSeq, PROGRESS_SEQ);
    const culprit = this.pending.get(seq);
    if (culprit) {
      this.pending.delete(seq);
      // Named, so the run that cost the worker can be told apart from the ones only replayed.
      culprit.resolve(hostOutcome(status, culprit.engine, `${reason} (request ${seq}, agent ${culprit.agentId})`));
    }
    if (++this.deathsWithoutAnswer >= 2) {
      for (const p of this.pending.values()) p.resolve(hostOutcome('crashed', p.engine, reason));
      this.pending.clear();
      this.outbox = [];
      return;
    }
    this.replay();
  }

  /**
   * A replaced worker has lost every agent it held: load them again, then resend the requests that had no
   * answer yet. Their results never left the old worker, so nothing they did was seen or published.
   */
  private replay(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
    const waiting = [...this.pending.values()].sort((a, b) => a.seq - b.seq);
    this.runsAtWorker = 0; // the new worker has none; the unanswered ones are sent again below
    const reloading = new Set(waiting.filter((p) => 't' in p.request && p.request.t === 'load').map((p) => p.agentId));
    // Hibernating agents come back as registrations: each wakes from its last stored state when its next message comes.
    this.registrations = [];
    for (const template of this.templates.values()) this.post({ ...template.request, seq: 0 });
    const registrations: Registration[] = [];
    let previous: Registration | undefined;
    for (const [agentId, spec] of this.agents) {
      if ('stateKey' in spec) registrations.push((previous = this.registration(spec, previous)));
      else if (!reloading.has(agentId)) this.post({ t: 'load', seq: 0, ...spec });
    }
    this.registrations = registrations;
    const runs: RunRequest[] = [];
    for (const p of waiting) {
      if ('t' in p.request) this.post(p.request);
      else runs.push(p.request);
    }
    this.outbox = runs.concat(this.outbox);
    this.flushRuns();
    if (this.pending.size > 0) this.armWatchdog(this.minTimeoutMs);
  }
}
