// The embedding API: a Sandbox owns a pool of agent workers and loads agents onto them.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { Agent } from './agent/agent.ts';
import { createGraphHandler, type GraphHandler, type GraphSource } from './agent/graph-handler.ts';
import { resolveLimits } from './agent/limits.ts';
import { preparationKey } from './agent/prepare.ts';
import type { EngineChoice, Limits, RunResult } from './agent/types.ts';
import { SandboxError } from './errors.ts';
import { selectEngine } from './engine/select.ts';
import { WorkerHost } from './engine/worker-host.ts';
import type { Deterministic, DirGrant } from '../host/wasi/index.ts';

export interface SandboxOptions {
  /** 'auto' (default) picks V8's WebAssembly when it exists and the TypeScript emulator otherwise. */
  engine?: EngineChoice;
  /** Worker threads that run agents; default: one per core. Agents are spread over them and stay on theirs. */
  workers?: number;
  /** Defaults for every agent this sandbox loads. */
  limits?: Partial<Limits>;
  /**
   * The graph service agents reach through the `sandbox.graph` import: a GraphClient, a URL
   * ('unix:///path', 'tcp://host:port'), or 'embedded' for the engine in this process. Without it the import
   * answers E_UNAVAILABLE.
   */
  graph?: GraphSource;
}

export interface LoadOptions {
  limits?: Partial<Limits>;
  /** A name for messages and metrics; defaults to the file name. */
  name?: string;
  engine?: EngineChoice;
  /**
   * 'keep' (default): the instance keeps its memory and globals from run to run (stateful agents like counter).
   * 'reset': every run starts from the state right after initialisation, restored from a snapshot in one memory
   * copy rather than by instantiating again (stateless agents; no run can see another's data).
   */
  state?: 'keep' | 'reset';
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

export class Sandbox {
  private readonly hosts: WorkerHost[];
  private readonly agents = new Set<Agent>();
  private readonly options: SandboxOptions;
  private closed = false;
  private readonly graph: GraphHandler | undefined;

  constructor(options: SandboxOptions = {}) {
    this.options = options;
    const workers = options.workers ?? availableParallelism();
    if (!Number.isInteger(workers) || workers < 1) {
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `workers must be a positive integer, got ${String(options.workers)}`);
    }
    selectEngine(options.engine ?? 'auto');
    resolveLimits(options.limits);
    this.graph = options.graph === undefined ? undefined : createGraphHandler(options.graph);
    const graph = this.graph;
    this.hosts = Array.from({ length: workers }, () => new WorkerHost(graph && ((request) => graph.handle(request))));
  }

  /**
   * Loads an agent from a file path or bytes. Rejects with SandboxError: SANDBOX_MODULE_NOT_FOUND,
   * SANDBOX_INVALID_MODULE, or SANDBOX_AGENT_INIT_FAILED (the error's `result` holds the RunResult).
   */
  async load(source: string | Uint8Array, options: LoadOptions = {}): Promise<Agent> {
    const { limits, engine, bytes, name, hash } = await this.resolve(source, options, 'agent');
    const host = this.hosts.reduce((a, b) => (b.agentCount < a.agentCount ? b : a));
    const agentId = nextAgentId++;
    const state = options.state ?? 'keep';
    if (state !== 'keep' && state !== 'reset') throw new SandboxError('SANDBOX_INVALID_OPTIONS', `state must be 'keep' or 'reset', got ${JSON.stringify(state)}`);
    const reset = state === 'reset';
    const result = await host.load({ agentId, key: preparationKey(hash, limits, reset), bytes, limits, engine, reset });
    if (result.status !== 'ok') {
      const code = result.status === 'invalid-module' ? 'SANDBOX_INVALID_MODULE' : 'SANDBOX_AGENT_INIT_FAILED';
      throw new SandboxError(code, `${name}: ${result.message ?? result.status}`, { result });
    }
    const agent = new Agent(agentId, name, engine, Object.freeze(limits), host, (a) => this.agents.delete(a));
    this.agents.add(agent);
    return agent;
  }

  /** Loads, runs once and unloads. Every failure of the module or the agent comes back as a RunResult. */
  async run(source: string | Uint8Array, input: unknown, options: LoadOptions = {}): Promise<RunResult> {
    let agent: Agent;
    try {
      agent = await this.load(source, options);
    } catch (error) {
      if (error instanceof SandboxError && error.result !== undefined) return error.result as RunResult;
      throw error;
    }
    try {
      return await agent.run(input);
    } finally {
      agent.close();
    }
  }

  /**
   * Runs a WASI preview 1 command (a module exporting `_start`) once, under the same limits as agents. Exit 0 is
   * status 'ok', another code 'exited' (`exitCode`); `stdout` and `stderr` hold what it wrote.
   */
  async runCommand(source: string | Uint8Array, options: CommandOptions = {}): Promise<RunResult> {
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

  /** Stops every worker. Runs still in flight resolve with status 'crashed'. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agents.clear();
    await Promise.all(this.hosts.map((h) => h.close()));
    await this.graph?.close();
  }

  /** Workers replaced after a timeout or a crash, over the sandbox's life. */
  get workerRestarts(): number {
    return this.hosts.reduce((n, h) => n + h.restarts, 0);
  }

  /** What loading and running commands share: the checked limits, the engine, the bytes, a name, their hash. */
  private async resolve(source: string | Uint8Array, options: Omit<LoadOptions, 'state'>, fallbackName: string) {
    this.assertOpen();
    const limits = resolveLimits(this.options.limits, options.limits);
    const { engine } = selectEngine(options.engine ?? this.options.engine ?? 'auto');
    const bytes = typeof source === 'string' ? await readModule(source) : source;
    const name = options.name ?? (typeof source === 'string' ? basename(source).replace(/\.wasm$/, '') : fallbackName);
    const hash = createHash('sha256').update(bytes).digest('hex');
    return { limits, engine, bytes, name, hash };
  }

  private assertOpen(): void {
    if (this.closed) throw new SandboxError('SANDBOX_CLOSED', 'the sandbox is closed');
  }
}

async function readModule(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SandboxError('SANDBOX_MODULE_NOT_FOUND', `no such file: ${path} (build the example agents with \`npm run build:agents\`)`, { cause: error });
    throw new SandboxError('SANDBOX_MODULE_NOT_FOUND', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}
