// The embedding API: a Sandbox owns a pool of agent workers and loads agents onto them.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { basename, resolve as resolvePath } from 'node:path';
import { Agent } from './agent/agent.ts';
import { callGraph, graphBackend, type GraphBackend, type GraphSource } from './capabilities/graph.ts';
import { GRANT_KEYS, resolveGrants, type GrantOptions, type Grants } from './capabilities/grants.ts';
import { checkLogsFitHeap, resolveLimits } from './agent/limits.ts';
import { preparationKey } from './agent/prepare.ts';
import { InlineHost } from './agent/inline-host.ts';
import type { EngineChoice, Isolation, Limits, RunResult } from './agent/types.ts';
import { SandboxError } from './errors.ts';
import { selectEngine } from './engine/select.ts';
import { DEFAULT_WORKER_HEAP_MB, WorkerHost, type GraphCaller } from './worker/host.ts';
import type { ResidencyCounts } from './hibernation/hibernator.ts';
import { readStateImage } from './hibernation/state-image.ts';
import { ANONYMOUS_PREFIX, lockStore, StateStore } from './hibernation/state-store.ts';
import type { Deterministic, DirGrant } from '../host/wasi/index.ts';
import { componentRequest } from './component/request.ts';
import { describeGrants } from './capabilities/grants.ts';
import { callHostFunction, callHostFunctionSync, type HostFunctions } from './capabilities/host-functions.ts';
import { importOptional } from './queue/optional.ts';
import type { LoadRequest, PluginSpec } from './worker/protocol.ts';
import { httpReply, type AgentHttpRequest } from './capabilities/http.ts';
import { decode, encode } from './codec.ts';
import { moduleShape } from './module/shape.ts';
import type { HostCallReply, HostCallRequest } from '../host/host-call.ts';

export interface SandboxOptions {
  /** Host functions every agent of this sandbox may call (a load's own `host` adds to them; its names win). */
  host?: HostFunctions;
  /** 'auto' (default) picks V8's WebAssembly when it exists and the TypeScript emulator otherwise. */
  engine?: EngineChoice;
  /** Worker threads that run agents; default: one per core. Agents are spread over them and stay on theirs. */
  workers?: number;
  /** Defaults for every agent this sandbox loads. */
  limits?: Partial<Limits>;
  /**
   * Heap of each agent worker in MB (default 1024). What guests make the host side hold lives there; a run that
   * exhausts it ends `limit-exceeded` and only its worker is replaced.
   */
  workerHeapMb?: number;
  /**
   * Where agents run unless their load says otherwise: 'worker' (default) on worker threads, with a preemptive
   * wall clock; 'inline' on the calling thread, with no message round trip per run, fuel mandatory and the wall
   * clock checked at every host call and after the run (README "Library" says when to pick which). Commands and
   * components always run in a worker.
   */
  isolation?: Isolation;
  /**
   * The graph service agents reach through the `sandbox.graph` import: a GraphClient, a URL
   * ('unix:///path', 'tcp://host:port'), or 'embedded' for the engine in a thread of this process. Without it the
   * import answers E_UNAVAILABLE. An agent reaches it only with a grant (load option `graph`).
   */
  graph?: GraphSource;
  /**
   * Hibernation of stateful agents (state 'keep'): past `maxResident` live instances, or idle past `idleMs`, an
   * agent's state goes to an embedded store in `store` (a directory) and its instance is reused; its next message
   * wakes it. Agents loaded with a `key` continue from their stored state in the next process.
   */
  hibernation?: HibernationOptions;
}

export interface HibernationOptions {
  /** Directory of the store (created if missing). One sandbox process uses a store at a time. */
  store: string;
  /** Live agent instances in this sandbox, over all workers (default 8192; V8 allows ~13k memories per process). */
  maxResident?: number;
  /**
   * Linear memory of the live instances, in bytes over all workers (default: no cap besides maxResident): agents
   * with large memories then hibernate sooner, and hot small ones stay resident.
   */
  maxResidentBytes?: number;
  /** An agent idle this long hibernates (default 60000; 0 = only the resident cap hibernates agents). */
  idleMs?: number;
  /**
   * How often changed resident agents' states are written (default 1000; 0 = only when they hibernate). A worker
   * replaced after a timeout wakes its agents from these checkpoints; so does a process that was killed.
   */
  checkpointMs?: number;
}

/** Stateful agents in a sandbox with hibernation: how many hold an instance, how many sleep in the store. */
export type Residency = ResidencyCounts;

/**
 * Grants (runtime/capabilities/grants.ts) are flat fields here: `graph: true` lets the agent call the graph
 * service's data methods in a namespace of its own, `host` gives it host functions, `config` strings,
 * `allowedHosts` HTTP; nothing is granted by default.
 */
export interface LoadOptions extends GrantOptions {
  limits?: Partial<Limits>;
  /** This agent's isolation, overriding the sandbox's (SandboxOptions.isolation). */
  isolation?: Isolation;
  /**
   * The module's ABI: 'sandbox' (guest ABI v1, docs/abi.md) or 'extism' (an Extism plugin, run unchanged:
   * docs/extism.md; drive it with `agent.call(fn, input)`). Default: 'extism' when the module imports from
   * `extism:host/*`, 'sandbox' otherwise.
   */
  abi?: 'sandbox' | 'extism';
  /** Extism plugins: give them our sandboxed WASI preview 1 (no files, no environment, output captured). */
  wasi?: boolean;
  /** A name for messages and metrics; defaults to the file name. */
  name?: string;
  engine?: EngineChoice;
  /**
   * 'keep' (default): the instance keeps its memory and globals from run to run (stateful agents like counter).
   * 'reset': every run starts from the state right after initialisation, restored from a snapshot in one memory
   * copy rather than by instantiating again (stateless agents; no run can see another's data).
   */
  state?: 'keep' | 'reset';
  /**
   * With hibernation: the name of the agent's state in the store. Loading an agent with a key whose state is
   * stored continues from it (same module only: another module's state is SANDBOX_STATE_MISMATCH). Without a key
   * the state lasts as long as the agent.
   */
  key?: string;
  /**
   * With a key: every `ok` run's result carries the agent's state image after the run (`RunResult.state`), what a
   * cluster commits to its shared store (docs/cluster.md).
   */
  exportState?: boolean;
  /**
   * With a key: start from this state image (one an `exportState` agent produced) instead of the store's, or from
   * the module's initial state (null). A cluster node loads a key this way with the shared store's state.
   */
  initialState?: Uint8Array | null;
}

/** A WASI preview 1 command: arguments, environment, stdin and the host directories it may see. */
export interface CommandOptions extends Omit<LoadOptions, 'state'> {
  /** Arguments after the program name. */
  args?: string[];
  env?: Record<string, string>;
  stdin?: Uint8Array | string;
  /** Host directories the program may see; nothing else of the host's file system is reachable. */
  dirs?: DirGrant[];
  /** A fixed clock and random seed, for replayable runs. */
  deterministic?: Deterministic;
}

let nextAgentId = 1;

/**
 * Sandboxes with hibernation that are still open. A script that forgets `close()` still gets its agents' states
 * written: when the process runs out of work ('beforeExit'), they are closed. (process.exit() and signals skip
 * this: there, changes since the last checkpoint are lost; docs/hibernation.md.)
 */
const closeAtExit = new Set<Sandbox>();
let exitHooked = false;

function closeWhenIdleAtExit(sandbox: Sandbox): void {
  closeAtExit.add(sandbox);
  if (exitHooked) return;
  exitHooked = true;
  process.on('beforeExit', () => {
    for (const open of closeAtExit) void open.close();
  });
}

export class Sandbox {
  private readonly hosts: WorkerHost[];
  /** Heap of each agent worker, in MB (`workerHeapMb`). */
  private readonly heapMb: number;
  /** Inline agents: run on this thread. */
  private readonly inline = new InlineHost((request, agentId, run) => this.hostCallSync(request, agentId, run));
  private readonly agents = new Set<Agent>();
  private readonly options: SandboxOptions;
  private closed = false;
  private readonly graph: GraphBackend | undefined;
  /** Each loaded agent's grants, by agent id: the host checks every capability call against these. */
  private readonly grants = new Map<number, Grants>();
  /** Names this sandbox's per-agent graph namespaces apart from another process's on a shared service. */
  private readonly uid = randomBytes(6).toString('base64url');
  /** With hibernation: the host's handle on the store (state checks at load), keys in use, and the lock's release. */
  private readonly hibernation:
    | {
        path: string;
        store: Promise<StateStore>;
        keys: Set<string>;
        releasing: Map<string, Promise<void>>;
        unlock: () => void;
        prefix: string;
      }
    | undefined;
  /** Equal limits share one frozen object: a million agents then hold one, and their workers receive it once. */
  private readonly limitsByValue = new Map<string, Readonly<Limits>>();
  private readonly strings = new Map<string, string>();
  /** Hashes of byte arrays already seen: a million loads of the same bytes hash them once. */
  private readonly hashes = new WeakMap<Uint8Array, string>();
  /**
   * One copy of a module's bytes for all its agents (each keeps them, to load it again in a replaced worker):
   * loading 10,000 agents from one path read 10,000 copies. Weak, so a module no agent uses is let go.
   */
  private readonly moduleBytes = new Map<string, WeakRef<Uint8Array>>();
  private readonly moduleBytesGone = new FinalizationRegistry<string>((hash) => {
    if (this.moduleBytes.get(hash)?.deref() === undefined) this.moduleBytes.delete(hash);
  });
  /** Who each loaded agent is, for its host functions' ctx and its ABI's payloads. */
  private readonly identities = new Map<number, { name: string; key: string | undefined; abi: 'sandbox' | 'extism' }>();

  constructor(options: SandboxOptions = {}) {
    this.options = options;
    const workers = options.workers ?? availableParallelism();
    if (!Number.isInteger(workers) || workers < 1) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `workers must be a positive integer, got ${String(options.workers)}`,
      );
    }
    const heapMb = options.workerHeapMb ?? DEFAULT_WORKER_HEAP_MB;
    if (!Number.isInteger(heapMb) || heapMb < 16) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `workerHeapMb must be an integer of at least 16, got ${String(options.workerHeapMb)}`,
      );
    }
    selectEngine(options.engine ?? 'auto');
    const limits = resolveLimits(options.limits);
    this.heapMb = heapMb;
    const isolation = checkIsolation(options.isolation);
    this.checkLogsFitHeap(limits, isolation, 'sandbox options');
    if (isolation === 'inline') checkInline(limits, options);
    this.graph = options.graph === undefined ? undefined : graphBackend(options.graph);
    const graph = this.graph;
    const grants = this.grants;
    const settings = options.hibernation && hibernationSettings(options.hibernation, workers);
    if (settings) {
      const unlock = lockStore(settings.path);
      const store = StateStore.open(settings.path).then(async (s) => {
        await s.removePrefix(ANONYMOUS_PREFIX); // left by a process that died; the lock says none is alive
        return s;
      });
      store.catch(() => {}); // reported by the first load
      this.hibernation = {
        path: settings.path,
        store,
        keys: new Set(),
        releasing: new Map(),
        unlock,
        prefix: `${ANONYMOUS_PREFIX}${process.pid}.${Date.now().toString(36)}/`,
      };
      closeWhenIdleAtExit(this);
    }
    const onGraph =
      graph &&
      ((request: Uint8Array, caller: { agentId: number; remainingMs: number }) =>
        callGraph(grants.get(caller.agentId)?.graph, graph, request, caller.remainingMs));
    if (options.host !== undefined)
      resolveGrants({ host: options.host }, { defaultNamespace: '', baseDir: process.cwd(), where: 'sandbox options' }); // fails here, not at the first load
    const hostCall = (request: HostCallRequest, caller: GraphCaller) => this.hostCall(request, caller);
    this.hosts = Array.from({ length: workers }, () => new WorkerHost(onGraph, settings, heapMb, hostCall));
  }

  /**
   * Loads an agent from a file path or bytes. Rejects with SandboxError: SANDBOX_MODULE_NOT_FOUND,
   * SANDBOX_INVALID_MODULE, or SANDBOX_AGENT_INIT_FAILED (the error's `result` holds the RunResult).
   */
  async load(source: string | Uint8Array, options: LoadOptions = {}): Promise<Agent> {
    const isolation = checkIsolation(options.isolation ?? this.options.isolation);
    const { limits, engine, bytes, name, hash } = await this.resolve(source, options, 'agent');
    const abi = options.abi ?? (moduleShape(bytes) === 'extism-plugin' ? 'extism' : 'sandbox');
    if (abi !== 'sandbox' && abi !== 'extism')
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `abi must be 'sandbox' or 'extism', got ${JSON.stringify(abi)}`,
      );
    const agentId = nextAgentId++;
    // Sandbox-wide host functions reach every agent; the load's own of the same name win.
    const withSandboxHost =
      this.options.host === undefined ? options : { ...options, host: { ...this.options.host, ...options.host } };
    const grants = resolveGrants(withSandboxHost as Record<string, unknown>, {
      defaultNamespace: `~agent/${this.uid}/${agentId}`,
      baseDir: process.cwd(),
      where: `load options of ${name}`,
    });
    const state = options.state ?? 'keep';
    if (state !== 'keep' && state !== 'reset')
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `state must be 'keep' or 'reset', got ${JSON.stringify(state)}`,
      );
    if (isolation === 'inline' && grants.graph !== undefined) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `${name}: the graph capability needs isolation 'worker': a graph request blocks the agent's thread until the service answers, which inline would be the caller's own thread`,
      );
    }
    const reset = state === 'reset';
    if (grants.http) await importOptional('undici', 'HTTP for agents (allowedHosts)'); // missing: say so at load, not at the first request
    // Granted before the load: an agent's initialisation may already call the host.
    this.grants.set(agentId, grants);
    this.identities.set(agentId, { name, key: options.key, abi });
    const ungrant = () => {
      this.grants.delete(agentId);
      this.identities.delete(agentId);
      const ns = grants.graph?.namespace;
      if (ns !== undefined && ns.startsWith('~agent/')) void this.graph?.dropNamespace(ns).catch(() => {});
    };
    const hostGrant: LoadRequest['host'] = {
      names: Object.keys(grants.host ?? {}),
      grants: encode(describeGrants(grants)),
      ...(grants.config ? { config: { ...grants.config } } : {}),
    };
    const plugin =
      abi === 'extism'
        ? {
            config: { ...grants.config },
            maxVarBytes: limits.varBytes,
            wasi: options.wasi === true,
            http: grants.http !== undefined,
          }
        : undefined;
    if (isolation === 'inline') {
      try {
        return await this.loadInline(
          agentId,
          name,
          { limits, engine, bytes, hash },
          reset,
          options,
          { abi, grants, hostGrant, plugin },
          ungrant,
        );
      } catch (error) {
        ungrant();
        throw error;
      }
    }
    const host = this.hosts.reduce((a, b) => (b.agentCount < a.agentCount ? b : a));
    if ((options.exportState === true || options.initialState !== undefined) && options.key === undefined) {
      ungrant();
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        'exportState and initialState need a `key` (and the sandbox option `hibernation`)',
      );
    }
    if (options.key !== undefined && (state !== 'keep' || !this.hibernation)) {
      ungrant();
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        "a `key` names stored state: it needs the sandbox option `hibernation` and state 'keep'",
      );
    }
    let release = () => {};
    let result: RunResult;
    try {
      if (plugin) {
        if (options.key !== undefined)
          throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'Extism plugins do not hibernate: load them without `key`');
        result = await host.load({
          agentId,
          key: `${preparationKey(hash, limits, reset)}:plugin`,
          bytes,
          limits,
          engine,
          reset,
          host: hostGrant,
          plugin,
        });
      } else if (this.hibernation && !reset) {
        const stateKey = await this.claimStateKey(options.key, agentId, hash);
        const keys = this.hibernation.keys;
        release = () => keys.delete(stateKey);
        const spec = {
          agentId,
          key: this.intern(preparationKey(hash, limits, true)),
          moduleHash: hash,
          bytes,
          limits,
          engine,
          stateKey,
          keepState: options.key !== undefined,
          ...(grants.host || grants.config ? { host: hostGrant } : {}),
          ...(options.exportState === true ? { exportState: true as const } : {}),
          ...(options.initialState !== undefined ? { initialState: options.initialState } : {}),
        };
        result = await host.loadSleepy(spec);
      } else {
        result = await host.load({
          agentId,
          key: preparationKey(hash, limits, reset),
          bytes,
          limits,
          engine,
          reset,
          host: hostGrant,
        });
      }
    } catch (error) {
      ungrant();
      throw error;
    }
    if (result.status !== 'ok') {
      release();
      ungrant();
      const code = result.status === 'invalid-module' ? 'SANDBOX_INVALID_MODULE' : 'SANDBOX_AGENT_INIT_FAILED';
      throw new SandboxError(code, `${name}: ${result.message ?? result.status}`, { result });
    }
    const agent = new Agent(
      agentId,
      name,
      engine,
      limits,
      host,
      'worker',
      (a, written) => {
        this.agents.delete(a);
        ungrant();
        if (written === undefined || options.key === undefined || !this.hibernation) return release();
        // The key stays taken until the agent's final state is committed; a load of it waits for that.
        const releasing = this.hibernation.releasing;
        const key = options.key;
        const done: Promise<void> = written
          .catch(() => {})
          .then(() => {
            if (releasing.get(key) === done) releasing.delete(key);
            release();
          });
        releasing.set(key, done);
      },
      abi,
    );
    this.agents.add(agent);
    return agent;
  }

  /** Loads an agent onto this thread (isolation 'inline'). */
  private async loadInline(
    agentId: number,
    name: string,
    { limits, engine, bytes, hash }: { limits: Limits; engine: Agent['engine']; bytes: Uint8Array; hash: string },
    reset: boolean,
    options: LoadOptions,
    {
      abi,
      grants,
      hostGrant,
      plugin,
    }: { abi: Agent['abi']; grants: Grants; hostGrant: LoadRequest['host']; plugin: PluginSpec | undefined },
    ungrant: () => void,
  ): Promise<Agent> {
    checkInline(limits, this.options);
    if (options.key !== undefined)
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        "a `key` names hibernated state, which needs isolation 'worker'",
      );
    if (options.graph !== undefined)
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        "a `graph` grant needs isolation 'worker': a graph call blocks the agent's thread until it is answered",
      );
    if (grants.http)
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        "HTTP for agents (allowedHosts) needs isolation 'worker': a request blocks the agent's thread until the server answers, which inline would be the caller's own thread",
      );
    const result = await this.inline.load({
      agentId,
      key: `${preparationKey(hash, limits, reset)}${plugin ? ':plugin' : ''}`,
      bytes,
      limits,
      engine,
      reset,
      host: hostGrant,
      plugin,
    });
    if (result.status !== 'ok') {
      const code = result.status === 'invalid-module' ? 'SANDBOX_INVALID_MODULE' : 'SANDBOX_AGENT_INIT_FAILED';
      throw new SandboxError(code, `${name}: ${result.message ?? result.status}`, { result });
    }
    if (this.closed) {
      this.inline.unload(agentId);
      this.assertOpen();
    }
    const agent = new Agent(
      agentId,
      name,
      engine,
      limits,
      this.inline,
      'inline',
      (a) => {
        this.agents.delete(a);
        ungrant();
      },
      abi,
    );
    this.agents.add(agent);
    return agent;
  }

  /** Answers a guest's host-function call or HTTP request (from a worker) against what its agent was granted. Never rejects. */
  private async hostCall(request: HostCallRequest, caller: GraphCaller): Promise<HostCallReply> {
    const grants = this.grants.get(caller.agentId);
    const agent = this.identities.get(caller.agentId);
    if (!grants || !agent) return { error: 'this agent was granted no host abilities' };
    if (request.t === 'http') {
      let http: AgentHttpRequest;
      try {
        http = decode(request.payload) as AgentHttpRequest;
      } catch {
        return { error: 'the HTTP request did not decode' };
      }
      return httpReply(grants.http, http, encode, caller.remainingMs);
    }
    const fn = grants.host?.[request.name];
    if (!fn) return { error: `no host function ${JSON.stringify(request.name)} was granted to this agent` };
    return callHostFunction(
      fn,
      request.payload,
      { agent: agent.name, key: agent.key, runId: `${caller.agentId}:${caller.seq}` },
      agent.abi,
    );
  }

  /** The same for an inline agent, on this thread: only a synchronous host function can answer. */
  private hostCallSync(request: HostCallRequest, agentId: number, run: number): HostCallReply {
    const fn = this.grants.get(agentId)?.host?.[request.name];
    const agent = this.identities.get(agentId);
    if (!fn || !agent || request.t !== 'host')
      return { error: `no host function ${JSON.stringify(request.name)} was granted to this agent` };
    return callHostFunctionSync(
      fn,
      request.payload,
      { agent: agent.name, key: agent.key, runId: `${agentId}:${run}` },
      agent.abi,
    );
  }

  /** Checks that a key is free and that its stored state (if any) belongs to this module; anonymous agents get a private key. */
  private async claimStateKey(key: string | undefined, agentId: number, hash: string): Promise<string> {
    const hibernation = this.hibernation!;
    let store: StateStore;
    try {
      store = await hibernation.store;
    } catch (error) {
      throw error instanceof SandboxError
        ? error
        : new SandboxError('SANDBOX_STORE', (error as Error).message, { cause: error });
    }
    if (key === undefined) return `${hibernation.prefix}${agentId}`;
    if (typeof key !== 'string' || key.length === 0 || key.length > 400 || key.startsWith('~')) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `key must be a non-empty string of at most 400 characters not starting with '~', got ${JSON.stringify(key)}`,
      );
    }
    await hibernation.releasing.get(key);
    if (hibernation.keys.has(key))
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `an agent with key ${JSON.stringify(key)} is already loaded in this sandbox`,
      );
    const stored = store.get(key);
    if (stored !== undefined) {
      const { moduleHash } = readStateImage(stored);
      if (moduleHash !== hash) {
        throw new SandboxError(
          'SANDBOX_STATE_MISMATCH',
          `the stored state of ${JSON.stringify(key)} belongs to module ${moduleHash.slice(0, 12)}…, not to this one (${hash.slice(0, 12)}…); load that module, or drop the state with sandbox.forget(${JSON.stringify(key)})`,
        );
      }
    }
    hibernation.keys.add(key);
    return key;
  }

  /** The base image a module's states are stored against in this sandbox's store (hibernation), if it has one yet. */
  async storedBase(moduleHash: string): Promise<Uint8Array | undefined> {
    if (!this.hibernation) return undefined;
    return (await this.hibernation.store).getBase(moduleHash);
  }

  /**
   * Sets the base image of a module before any agent of it loads here (a cluster makes every node decode states
   * against the same bytes). Refused once this sandbox has loaded an agent of the module with hibernation.
   */
  async putBase(moduleHash: string, base: Uint8Array): Promise<void> {
    if (!this.hibernation)
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'putBase needs the sandbox option `hibernation`');
    await (await this.hibernation.store).setBase(moduleHash, base);
  }

  /** Deletes an agent's stored state (hibernation). Not while an agent with that key is loaded. */
  async forget(key: string): Promise<boolean> {
    this.assertOpen();
    if (!this.hibernation)
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'forget needs the sandbox option `hibernation`');
    await this.hibernation.releasing.get(key);
    if (this.hibernation.keys.has(key))
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `the agent with key ${JSON.stringify(key)} is loaded; close it first`,
      );
    return (await this.hibernation.store).remove(key);
  }

  /** Stateful agents with hibernation: resident, hibernated, wakes and writes so far (as of each worker's last answer). */
  residency(): Residency {
    const total: Residency = {
      resident: 0,
      hibernated: 0,
      wakes: 0,
      hibernations: 0,
      checkpoints: 0,
      storeErrors: 0,
      writeMs: 0,
      undone: 0,
    };
    for (const host of this.hosts) {
      const r = host.residency;
      if (r === null) continue;
      total.resident += r.resident;
      total.hibernated += r.hibernated;
      total.wakes += r.wakes;
      total.hibernations += r.hibernations;
      total.checkpoints += r.checkpoints;
      total.storeErrors += r.storeErrors;
      total.writeMs += r.writeMs;
      total.undone += r.undone;
    }
    return total;
  }

  /** Loads, runs once and unloads. Every failure of the module or the agent comes back as a RunResult. */
  async run<TIn = unknown, TOut = unknown>(
    source: string | Uint8Array,
    input: TIn,
    options: LoadOptions = {},
  ): Promise<RunResult<TOut>> {
    let agent: Agent;
    try {
      agent = await this.load(source, options);
    } catch (error) {
      if (error instanceof SandboxError && error.result !== undefined) return error.result as RunResult<TOut>;
      throw error;
    }
    try {
      return await agent.run<TIn, TOut>(input);
    } finally {
      agent.close();
    }
  }

  /**
   * Runs a WASI preview 1 command (a module exporting `_start`) once, under the same limits as agents. Exit 0 is
   * status 'ok', another code 'exited' (`exitCode`); `stdout` and `stderr` hold what it wrote.
   */
  async runCommand(source: string | Uint8Array, options: CommandOptions = {}): Promise<RunResult> {
    refuseGrants(options, 'a WASI command');
    const { limits, engine, bytes, name, hash } = await this.resolve(source, options, 'command');
    const host = this.hosts.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const stdin = typeof options.stdin === 'string' ? new TextEncoder().encode(options.stdin) : options.stdin;
    return host.command({
      key: preparationKey(hash, limits, false),
      bytes,
      limits,
      engine,
      wasi: {
        args: [name, ...(options.args ?? [])],
        env: options.env ?? {},
        ...(stdin ? { stdin } : {}),
        dirs: options.dirs ?? [],
        ...(options.deterministic ? { deterministic: options.deterministic } : {}),
      },
    });
  }

  /**
   * Runs a WebAssembly component of world `agent` (wit/agent.wit, docs/components.md) once with `input`, its core
   * modules instrumented like any agent's. Every failure of the component comes back as a RunResult; bytes that
   * are not a component of that world are status 'invalid-module'.
   */
  async runComponent(
    source: string | Uint8Array,
    input: unknown,
    options: Omit<LoadOptions, 'state'> = {},
  ): Promise<RunResult> {
    refuseGrants(options, 'a component');
    const { limits, engine, bytes, hash } = await this.resolve(source, options, 'component');
    const request = await componentRequest(bytes, hash, input, limits, engine);
    if ('status' in request) return request;
    const host = this.hosts.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    return host.component(request);
  }

  /** Stops every worker. Runs still in flight resolve with status 'crashed'. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeAtExit.delete(this);
    for (const agent of this.agents) agent.markClosed();
    this.agents.clear();
    this.inline.close();
    await Promise.all(this.hosts.map((h) => h.close()));
    await this.graph?.close();
    if (this.hibernation) {
      const store = await this.hibernation.store.catch(() => null);
      if (store) {
        await store.removePrefix(this.hibernation.prefix);
        await store.flushed();
        await store.close();
      }
      this.hibernation.unlock();
    }
  }

  /** Workers replaced after a timeout or a crash, over the sandbox's life. */
  get workerRestarts(): number {
    return this.hosts.reduce((n, h) => n + h.restarts, 0);
  }

  private checkLogsFitHeap(limits: Limits, isolation: 'worker' | 'inline', where: string): void {
    if (isolation === 'inline') checkLogsFitHeap(limits, getHeapStatistics().heap_size_limit, 'host heap', where);
    else checkLogsFitHeap(limits, this.heapMb * 2 ** 20, `agent worker heap (workerHeapMb ${this.heapMb})`, where);
  }

  /** What loading and running commands share: the checked limits, the engine, the bytes, a name, their hash. */
  private async resolve(source: string | Uint8Array, options: Omit<LoadOptions, 'state'>, fallbackName: string) {
    this.assertOpen();
    const limits = this.internLimits(resolveLimits(this.options.limits, options.limits));
    const { engine } = selectEngine(options.engine ?? this.options.engine ?? 'auto');
    const read = typeof source === 'string' ? await readModule(source) : source;
    const name = options.name ?? (typeof source === 'string' ? basename(source).replace(/\.wasm$/, '') : fallbackName);
    // Commands and components always run in a worker; agents where their isolation says.
    const isolation = fallbackName === 'agent' ? (options.isolation ?? this.options.isolation) : 'worker';
    this.checkLogsFitHeap(limits, checkIsolation(isolation), name);
    let hash = this.hashes.get(read);
    if (hash === undefined) {
      hash = createHash('sha256').update(read).digest('hex');
      this.hashes.set(read, hash);
    }
    let bytes = this.moduleBytes.get(hash)?.deref();
    if (bytes === undefined) {
      bytes = read;
      this.moduleBytes.set(hash, new WeakRef(bytes));
      this.moduleBytesGone.register(bytes, hash);
    }
    return { limits, engine, bytes, name, hash };
  }

  /** One copy of a string every agent of a module carries (its preparation key), rather than one per agent. */
  private intern(value: string): string {
    let shared = this.strings.get(value);
    if (shared === undefined) {
      if (this.strings.size >= 1024) this.strings.clear();
      this.strings.set(value, value);
      shared = value;
    }
    return shared;
  }

  private internLimits(limits: Limits): Limits {
    const key = JSON.stringify(limits);
    let shared = this.limitsByValue.get(key);
    if (shared === undefined) {
      if (this.limitsByValue.size >= 1024) this.limitsByValue.clear(); // many distinct limits: sharing stops paying
      shared = Object.freeze(limits);
      this.limitsByValue.set(key, shared);
    }
    return shared as Limits;
  }

  private assertOpen(): void {
    if (this.closed) throw new SandboxError('SANDBOX_CLOSED', 'the sandbox is closed');
  }
}

function checkIsolation(isolation: Isolation | undefined): Isolation {
  if (isolation === undefined || isolation === 'worker' || isolation === 'inline') return isolation ?? 'worker';
  throw new SandboxError(
    'SANDBOX_INVALID_OPTIONS',
    `isolation must be 'worker' or 'inline', got ${JSON.stringify(isolation)}`,
  );
}

/**
 * Inline agents run on the calling thread, which nothing can stop from outside: fuel is what bounds them between
 * host calls, and capabilities that must block the thread on another one (a graph grant, checked at load; the
 * hibernation store) need a worker.
 */
function checkInline(limits: Limits, options: SandboxOptions): void {
  if (limits.fuel === 0) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      "limits.fuel must be positive with isolation 'inline': fuel is what stops a runaway agent on the calling thread; use isolation 'worker' to run unmetered",
    );
  }
  if (options.hibernation !== undefined) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      "hibernation needs isolation 'worker': agents hibernate in their worker; load this agent with isolation 'worker' or use a sandbox without `hibernation`",
    );
  }
}

/** Grants are per loaded agent; a command or component run has none, and saying so beats ignoring the option. */
function refuseGrants(options: object, what: string): void {
  const given = GRANT_KEYS.filter((key) => (options as Record<string, unknown>)[key] !== undefined);
  if (given.length > 0) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `${what} cannot be granted ${given.join(', ')}: grants are for agents loaded with sandbox.load()`,
    );
  }
}

function hibernationSettings(options: HibernationOptions, workers: number) {
  const { store, maxResident = 8192, idleMs = 60_000, checkpointMs = 1000, maxResidentBytes } = options;
  if (typeof store !== 'string' || store.length === 0)
    throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'hibernation.store must be a directory path');
  for (const [name, value] of [
    ['maxResident', maxResident],
    ['idleMs', idleMs],
    ['checkpointMs', checkpointMs],
  ] as const) {
    if (!Number.isInteger(value) || value < 0)
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `hibernation.${name} must be a non-negative integer, got ${String(value)}`,
      );
  }
  if (maxResident < workers)
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `hibernation.maxResident must be at least the number of workers (${workers}), got ${maxResident}`,
    );
  if (maxResidentBytes !== undefined && (!Number.isSafeInteger(maxResidentBytes) || maxResidentBytes <= 0))
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `hibernation.maxResidentBytes must be a positive integer (bytes), got ${String(maxResidentBytes)}`,
    );
  return {
    path: resolvePath(store),
    maxResident: Math.floor(maxResident / workers),
    maxResidentBytes: maxResidentBytes === undefined ? Infinity : Math.floor(maxResidentBytes / workers),
    idleMs,
    checkpointMs,
  };
}

async function readModule(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new SandboxError(
        'SANDBOX_MODULE_NOT_FOUND',
        `no such file: ${path} (build the example agents with \`npm run build:agents\`)`,
        { cause: error },
      );
    throw new SandboxError('SANDBOX_MODULE_NOT_FOUND', `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
