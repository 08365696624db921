// Entry point of an agent worker thread: compiles, instantiates and runs agents; the host thread never runs guest code.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { compileAgentModule, Guest, type GuestOptions } from '../agent/guest.ts';
import { hostOutcome, InvalidModule, thrownOutcome, type GuestOutcome } from '../agent/outcome.ts';
import type { GraphBridge } from '../../host/graph-imports.ts';
import type { HostCallReply } from '../../host/host-call.ts';
import { decode, encode } from '../codec.ts';
import { prepareModule, prepareModuleWithFacts } from '../agent/prepare.ts';
import { instantiate, makeSlot, runSlot, type AgentSlot, type HostImportOptions } from '../agent/slot.ts';
import { Hibernator, type HibernationSettings, type SleepyAgent, type Template } from '../hibernation/hibernator.ts';
import { StateStore } from '../hibernation/state-store.ts';
import { differingRuns } from '../hibernation/state-image.ts';
import type { EngineName, Limits } from '../agent/types.ts';
import type { WasmNamespace } from '../engine/namespace.ts';
import {
  PROGRESS_SEQ,
  PROGRESS_STARTED,
  type CommandRequest,
  type Completion,
  type FromWorker,
  type LoadRequest,
  type Registration,
  type RunRequest,
  type TemplateRequest,
  type ToWorker,
} from './protocol.ts';
import { WasiHost } from '../../host/wasi/index.ts';
import type { ComponentRequest } from './protocol.ts';
import { runComponentRequest } from '../component/run.ts';
import { loadEngine } from '../engine/select.ts';
import { packCompletions } from './batch-codec.ts';
import { hostCallBridge } from './host-call.ts';
import { RunChannelWorker } from './run-channel.ts';
import { contentDigest } from '../ops/message-digest.ts';

const port = parentPort!;
const progress = workerData.progress as SharedArrayBuffer;
const progressSeq = new Int32Array(progress);
const bridge = hostCallBridge(workerData.hostPort as MessagePort, workerData.hostSignal as SharedArrayBuffer)!;
const graphBridge: GraphBridge | undefined = workerData.graph ? (request) => bridge(request) as Uint8Array : undefined;
const progressStarted = new Float64Array(progress);

/**
 * The host imports every instance in this worker gets. Host functions and HTTP cross to the host thread, which
 * knows the agent and the run from its own records (this worker's progress slot), not from the request.
 */
const hostImports: HostImportOptions = {
  graph: graphBridge,
  callHost: (name, payload) => bridge({ t: 'host', name, payload }) as HostCallReply,
  http: (request) => {
    const reply = bridge({ t: 'http', name: 'http', payload: encode(request) }) as HostCallReply;
    if ('error' in reply) return { error: reply.error };
    return decode(reply.ok) as { status: number; headers: Record<string, string>; body: Uint8Array };
  },
};

const agents = new Map<number, AgentSlot>();
const modules = new Map<string, WebAssembly.Module>();
const engines = new Map<EngineName, WasmNamespace>();

/** Stateful agents that hibernate (when the sandbox has a store): they hold an instance only while resident. */
const hibernation = workerData.hibernation as HibernationSettings | undefined;
const sleepers = new Map<number, SleepyAgent>();
const templates = new Map<string, Template>();
let hibernator: Hibernator | null = null;

async function startHibernation(settings: HibernationSettings): Promise<Hibernator> {
  if (hibernator) return hibernator;
  const store = await StateStore.open(settings.path);
  hibernator = new Hibernator(store, settings, (message) => process.stderr.write(`sandbox worker: ${message}\n`));
  const every = Math.min(
    settings.idleMs > 0 ? Math.max(10, settings.idleMs / 2) : Infinity,
    settings.checkpointMs > 0 ? settings.checkpointMs : Infinity,
  );
  if (Number.isFinite(every)) {
    const h = hibernator;
    setInterval(() => {
      chain = chain.then(() => {
        h.tick(performance.now());
        if (completions.length > 0) flush();
        else port.postMessage({ t: 'residency', residency: h.residency } satisfies FromWorker);
      });
    }, every).unref();
  }
  return hibernator;
}

/** Results wait here until the batch ends or a few milliseconds pass, so one message carries many. */
let completions: Completion[] = [];
let lastFlush = performance.now();
const FLUSH_INTERVAL_MS = 2;
const FLUSH_COUNT = 512;

function flush(): void {
  if (completions.length === 0) return;
  const packed = packCompletions(completions);
  const message: FromWorker = hibernator
    ? { t: 'done', packed, residency: hibernator.residency }
    : { t: 'done', packed };
  port.postMessage(message, [packed.buffer as ArrayBuffer]);
  completions = [];
  lastFlush = performance.now();
}

/**
 * Flushes once the writes settled so far have all been answered: stopping a swarm of a million per-key agents
 * unloads each, and a message per answer was a million messages.
 */
let flushQueued = false;
function flushSoon(): void {
  if (flushQueued) return;
  flushQueued = true;
  setImmediate(() => {
    flushQueued = false;
    flush();
  });
}

function begin(seq: number): number {
  if (
    completions.length >= FLUSH_COUNT ||
    (completions.length > 0 && performance.now() - lastFlush > FLUSH_INTERVAL_MS)
  )
    flush();
  const started = performance.now();
  progressStarted[PROGRESS_STARTED] = performance.timeOrigin + started;
  Atomics.store(progressSeq, PROGRESS_SEQ, seq);
  return started;
}

function end(seq: number, started: number, outcome: GuestOutcome): void {
  Atomics.store(progressSeq, PROGRESS_SEQ, 0);
  outcome.durationMs = performance.now() - started;
  completions.push({ seq, result: outcome });
}

async function engineFor(engine: EngineName): Promise<WasmNamespace> {
  let wa = engines.get(engine);
  if (!wa) {
    wa = await loadEngine(engine);
    engines.set(engine, wa);
  }
  return wa;
}

async function load(req: LoadRequest): Promise<void> {
  const wa = await engineFor(req.engine);
  let agent: AgentSlot;
  try {
    agent = makeSlot(modules, wa, req);
  } catch (error) {
    const started = begin(req.seq);
    end(req.seq, started, hostOutcome('invalid-module', req.engine, (error as Error).message));
    return;
  }
  const started = begin(req.seq);
  const outcome = instantiate(agent, hostImports);
  if (outcome.status === 'ok') agents.set(req.agentId, agent);
  end(req.seq, started, outcome);
}

/** Compiles a module for hibernating agents and initialises a first instance, keeping the image states are stored against. */
async function template(req: TemplateRequest): Promise<void> {
  const wa = await engineFor(req.engine);
  const key = `${req.engine}:${req.key}`;
  if (templates.has(key)) {
    end(req.seq, begin(req.seq), hostOutcome('ok', req.engine));
    return;
  }
  try {
    if (!hibernation) throw new Error('this worker was started without a hibernation store');
    await startHibernation(hibernation);
  } catch (error) {
    end(req.seq, begin(req.seq), hostOutcome('crashed', req.engine, (error as Error).message));
    return;
  }
  const started = begin(req.seq);
  let outcome: GuestOutcome;
  try {
    const prepared = prepareModuleWithFacts(req.bytes, req.limits, wa, true);
    if (prepared.untrackedState) {
      throw new InvalidModule(
        'the module changes tables, drops segments (table.set/grow/fill/copy/init, data.drop, elem.drop) or has mutable v128 globals: state a snapshot of memory and globals cannot hold, so its agents cannot hibernate; load it in a Sandbox without `hibernation`',
      );
    }
    const module = compileAgentModule(wa, prepared.bytes);
    const first = Guest.create(wa, module, req.limits, req.engine, { ...hostImports, keepInitial: true });
    if (first instanceof Guest) {
      const initial = first.initialState!;
      const create = (limits: Limits, host?: GuestOptions['host']) =>
        Guest.create(wa, module, limits, req.engine, {
          ...hostImports,
          keepInitial: initial,
          ...(host ? { host } : {}),
        });
      // (Mutable v128 globals were refused above as untracked state: JavaScript cannot read them.)
      const state = first.captureState();
      if (state.globals.some((g) => typeof g !== 'number' && typeof g !== 'bigint')) {
        throw new InvalidModule(
          'the module has mutable reference globals, which a stored state cannot hold, so its agents cannot hibernate; load it in a Sandbox without `hibernation`',
        );
      }
      const base = hibernator!.adoptBase(req.moduleHash, state.memory.slice());
      templates.set(key, {
        moduleHash: req.moduleHash,
        wa,
        module,
        engine: req.engine,
        base,
        initialMemory: initial.memory,
        initialDelta: differingRuns(initial.memory, base),
        pool: [{ guest: first, delta: null }],
        create,
      });
      outcome = hostOutcome('ok', req.engine);
    } else {
      outcome = first;
    }
  } catch (error) {
    outcome = thrownOutcome(error, req.engine);
  }
  end(req.seq, started, outcome);
}

function register(registrations: Registration[]): void {
  let limits: Limits | undefined;
  for (const r of registrations) {
    limits = r.limits ?? limits;
    const template = templates.get(`${r.engine}:${r.key}`);
    if (!template || !limits || !hibernator) continue; // its run answers that the agent is not loaded
    const previous = sleepers.get(r.agentId);
    if (previous) continue;
    const sleeper: SleepyAgent = {
      agentId: r.agentId,
      stateKey: r.stateKey,
      template,
      limits,
      guest: null,
      dirty: false,
      lastUsed: 0,
      keepState: r.keepState,
    };
    if (r.exportState) sleeper.exportState = true;
    if (r.initialState !== undefined) sleeper.initialState = r.initialState;
    if (r.host)
      sleeper.host = {
        granted: new Set(r.host.names),
        grants: r.host.grants,
        config: r.host.config,
        call: r.host.names.length > 0 ? hostImports.callHost : undefined,
      };
    sleepers.set(r.agentId, sleeper);
    hibernator.added();
  }
}

function runSleeper(agent: SleepyAgent, input: Uint8Array): GuestOutcome {
  const hib = hibernator!;
  const { failed, wakeMs } = hib.wake(agent);
  if (failed === null) hib.beforeRun(agent);
  const outcome = failed ?? agent.guest!.run(input);
  if (failed === null) hib.ran(agent, performance.now());
  if (wakeMs !== undefined) outcome.wakeMs = wakeMs;
  if (agent.exportState && outcome.status === 'ok') {
    const state = hib.exportState(agent);
    if (state !== undefined) outcome.state = state;
  }
  return outcome;
}

async function drain(seq: number): Promise<void> {
  const started = begin(seq);
  let outcome = hostOutcome('ok', 'wasm');
  try {
    await hibernator?.drain();
  } catch (error) {
    outcome = hostOutcome('crashed', 'wasm', `writing hibernated state failed: ${(error as Error).message}`);
  }
  end(seq, started, outcome);
}

/** Runs a WebAssembly component once (runtime/component/); its glue and core modules run here, under the watchdog. */
async function component(req: ComponentRequest): Promise<void> {
  const wa = await engineFor(req.engine);
  const started = begin(req.seq);
  end(req.seq, started, runComponentRequest(wa, req));
}

async function command(req: CommandRequest): Promise<void> {
  const wa = await engineFor(req.engine);
  const started = begin(req.seq);
  let outcome: GuestOutcome;
  try {
    const key = `${req.engine}:command:${req.key}`;
    let module = modules.get(key);
    if (!module) {
      module = compileAgentModule(wa, prepareModule(req.bytes, req.limits, wa), 'command');
      modules.set(key, module);
    }
    let wasi: WasiHost;
    try {
      wasi = new WasiHost({ ...req.wasi, maxOutputBytes: req.limits.outputBytes });
    } catch (error) {
      end(req.seq, started, hostOutcome('invalid-input', req.engine, (error as Error).message));
      return;
    }
    const created = Guest.create(wa, module, req.limits, req.engine, { ...hostImports, wasi });
    outcome = created instanceof Guest ? created.runCommand() : created;
  } catch (error) {
    outcome = thrownOutcome(error, req.engine);
  }
  end(req.seq, started, outcome);
}

/** MessagePack nil: the output of a run whose caller does not read it. */
const NIL = Uint8Array.of(0xc0);

function run(req: RunRequest, inputDigest?: string, discardOutput = false): void {
  const started = begin(req.seq);
  const sleeper = sleepers.get(req.agentId);
  if (sleeper) {
    const outcome = runSleeper(sleeper, req.input);
    if (inputDigest !== undefined) outcome.inputDigest = inputDigest;
    if (discardOutput) dropOutput(outcome);
    end(req.seq, started, outcome);
    return;
  }
  const agent = agents.get(req.agentId);
  let outcome: GuestOutcome;
  if (!agent) {
    outcome = hostOutcome('crashed', 'wasm', `agent ${req.agentId} is not loaded in this worker`);
  } else {
    outcome = runSlot(agent, req.input, hostImports);
  }
  if (inputDigest !== undefined) outcome.inputDigest = inputDigest;
  if (discardOutput) dropOutput(outcome);
  end(req.seq, started, outcome);
}

/** Not copied into the batch, not decoded on the host: a queue consumer never reads it. */
function dropOutput(outcome: GuestOutcome): void {
  if (outcome.rawOutput !== undefined) outcome.rawOutput = NIL;
  outcome.output = null;
}

let chain: Promise<void> = Promise.resolve();

/** One handler per message kind; the mapped type makes a new kind in protocol.ts a compile error here until it is handled. */
type Handlers = { [K in ToWorker['t']]: (message: Extract<ToWorker, { t: K }>) => void };

const handlers: Handlers = {
  runs(message) {
    // Loads are asynchronous only the first time an engine is imported; runs keep their order behind them.
    chain = chain.then(() => {
      const { seqs, agentIds, ends, prefixes, discardOutput, data } = message.runs;
      let start = 0;
      for (let i = 0; i < seqs.length; i++) {
        const end = ends[i]!;
        const prefix = prefixes[i]!;
        // Hashed here, where the input already is, rather than on the host thread (audit-trail message ids).
        const digest = prefix > 0 ? contentDigest(data.subarray(start, end)) : undefined;
        run(
          { seq: seqs[i]!, agentId: agentIds[i]!, input: data.subarray(start + prefix, end) },
          digest,
          discardOutput[i] === 1,
        );
        start = end;
      }
      flush();
    });
  },
  command(message) {
    chain = chain.then(() => command(message)).then(flush);
  },
  component(message) {
    chain = chain.then(() => component(message)).then(flush);
  },
  load(message) {
    chain = chain.then(() => load(message)).then(flush);
  },
  template(message) {
    chain = chain.then(() => template(message)).then(flush);
  },
  register(message) {
    chain = chain.then(() => register(message.agents));
  },
  drain(message) {
    chain = chain.then(() => drain(message.seq)).then(flush);
  },
  unload(message) {
    chain = chain.then(() => {
      const sleeper = sleepers.get(message.agentId);
      let written: Promise<void> = Promise.resolve();
      if (sleeper) {
        sleepers.delete(message.agentId);
        written = hibernator!.removed(sleeper, sleeper.keepState);
      } else {
        agents.delete(message.agentId);
      }
      const seq = message.seq;
      // Answered when the write commits, without holding up the runs behind it.
      if (seq !== undefined) {
        void written.then(() => {
          completions.push({ seq, result: hostOutcome('ok', 'wasm') });
          flushSoon();
        });
      }
    });
  },
};

/**
 * The shared-memory run channel (run-channel.ts): a run the host put in the slot joins the chain like a message,
 * after every message posted before it. After answering one, the worker polls briefly for the next (a caller
 * awaiting one run at a time sends it within microseconds), then sleeps until the host writes one.
 */
const runChannel = workerData.runChannel ? new RunChannelWorker(workerData.runChannel as SharedArrayBuffer) : null;
const SPIN_MS = 0.05;
/** Messages received from the host so far: a run in the slot waits until every message posted before it is here. */
let received = 0;

function pollRunChannel(): void {
  const channel = runChannel!;
  const req = channel.take(received);
  if (req !== null) chain = chain.then(() => serveFromChannel(channel, req));
  else if (!channel.hasNew()) channel.sleep(pollRunChannel);
  // Otherwise the run waits for a message posted before it; its arrival polls again.
}

function serveFromChannel(channel: RunChannelWorker, req: RunRequest): void {
  run(req);
  let packed: Uint8Array | null = null;
  if (completions.length > 0) {
    packed = packCompletions(completions);
    completions = [];
    lastFlush = performance.now();
  }
  if (packed !== null && packed.length > 0 && !channel.fits(packed)) {
    // Too large for the slot: the completions go by message, and the slot says so.
    const message: FromWorker = hibernator
      ? { t: 'done', packed, residency: hibernator.residency }
      : { t: 'done', packed };
    port.postMessage(message, [packed.buffer as ArrayBuffer]);
    packed = null;
  }
  channel.answer(packed);
  if (channel.spin(SPIN_MS)) pollRunChannel();
  else channel.sleep(pollRunChannel);
}

port.on('message', (message: ToWorker) => {
  // A run the host put in the slot before posting this message goes first.
  if (runChannel?.hasNew()) pollRunChannel();
  received++;
  (handlers[message.t] as (message: ToWorker) => void)(message);
  if (runChannel?.hasNew()) pollRunChannel();
});
if (runChannel) runChannel.sleep(pollRunChannel);
