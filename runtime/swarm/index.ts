// Swarms: startSwarm wires a topology's queue, sandbox and agents together; stop drains and closes them in order.
import { availableParallelism } from 'node:os';
import type { EngineChoice } from '../agent/types.ts';
import { createQueue } from '../queue/index.ts';
import type { QueueBackend } from '../queue/types.ts';
import { Sandbox } from '../sandbox.ts';
import { Dispatcher, type DispatcherOptions } from './dispatcher.ts';
import type { Topology } from './topology.ts';

export interface SwarmOptions {
  /** Use this queue instead of creating the topology's (the swarm then does not close it). */
  queue?: QueueBackend;
  engine?: EngineChoice;
  /** Worker threads for the agents (default: `defaultWorkers(topology)`). */
  workers?: number;
  onRun?: DispatcherOptions['onRun'];
  onParked?: DispatcherOptions['onParked'];
  pipeline?: DispatcherOptions['pipeline'];
  /** Where admission shedding and escalation (Redis fallback, quarantine) are reported; default stderr. */
  onLog?: DispatcherOptions['onLog'];
  /** Trace messages and runs (W3C traceparent, spans on `sandbox:trace:span`); default false. */
  tracing?: DispatcherOptions['tracing'];
  /** Message content ids computed in the workers (`RunResult.inputDigest`); default false. */
  inputDigests?: DispatcherOptions['inputDigests'];
  /** Runs' outputs are not sent back from the workers (`result.output` null); default false. */
  discardOutputs?: DispatcherOptions['discardOutputs'];
}

export interface Swarm {
  readonly topology: Topology;
  readonly queue: QueueBackend;
  readonly sandbox: Sandbox;
  readonly dispatcher: Dispatcher;
  /** Drains runs in flight, then closes the queue (if the swarm created it) and the sandbox. */
  stop(): Promise<void>;
}

/**
 * One worker per core, at most one per instance the topology runs at once: an agent's `concurrency`, or a core's
 * worth for a per-key agent (its instances spread over every worker); with hibernation, at most `maxResident`
 * (every worker holds at least one resident agent).
 */
export function defaultWorkers(topology: Topology): number {
  const cores = availableParallelism();
  const instances = topology.agents.reduce((n, a) => n + (a.instances === 'per-key' ? cores : a.concurrency), 0);
  return Math.max(1, Math.min(cores, instances, topology.hibernation?.maxResident ?? Infinity));
}

export async function startSwarm(topology: Topology, options: SwarmOptions = {}): Promise<Swarm> {
  const ownsQueue = options.queue === undefined;
  const queue = options.queue ?? (await createQueue(topology.queue));
  let sandbox: Sandbox | undefined;
  let dispatcher: Dispatcher | undefined;
  const stop = async (): Promise<void> => {
    // Order matters: runs in flight still publish their events, so the queue closes after them, the sandbox last.
    try {
      await dispatcher?.stop();
      if (ownsQueue) await queue.close();
    } finally {
      await sandbox?.close();
    }
  };
  try {
    sandbox = new Sandbox({
      engine: options.engine ?? 'auto',
      workers: options.workers ?? defaultWorkers(topology),
      // Closing the sandbox (stop) writes every changed state and waits until it is on disk.
      ...(topology.hibernation ? { hibernation: topology.hibernation } : {}),
      ...(topology.graph ? { graph: topology.graph } : {}),
    });
    dispatcher = new Dispatcher({
      queue,
      sandbox,
      deadLetter: topology.deadLetter,
      ...(options.onRun ? { onRun: options.onRun } : {}),
      ...(options.onParked ? { onParked: options.onParked } : {}),
      ...(options.pipeline !== undefined ? { pipeline: options.pipeline } : {}),
      ...(topology.admission ? { admission: topology.admission } : {}),
      ...(topology.escalation ? { escalation: topology.escalation } : {}),
      ...(options.onLog ? { onLog: options.onLog } : {}),
      ...(options.tracing === true ? { tracing: true } : {}),
      ...(options.inputDigests === true ? { inputDigests: true } : {}),
      ...(options.discardOutputs === true ? { discardOutputs: true } : {}),
    });
    for (const spec of topology.agents) await dispatcher.addAgent(spec);
  } catch (error) {
    await stop();
    throw error;
  }
  return { topology, queue, sandbox, dispatcher, stop };
}

export {
  Dispatcher,
  SOURCE_AGENT_HEADER,
  type AgentLag,
  type AgentStats,
  type DispatcherOptions,
  type DispatcherSpan,
  type RunTiming,
} from './dispatcher.ts';
export {
  loadTopology,
  parseTopology,
  TOPOLOGY_DEFAULTS,
  type AgentInstances,
  type AgentSpec,
  type Topology,
} from './topology.ts';
