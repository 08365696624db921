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
  /** Worker threads for the agents (default: one per core, at most the total concurrency). */
  workers?: number;
  onRun?: DispatcherOptions['onRun'];
  onParked?: DispatcherOptions['onParked'];
  pipeline?: DispatcherOptions['pipeline'];
  /** Where admission shedding and escalation (Redis fallback, quarantine) are reported; default stderr. */
  onLog?: DispatcherOptions['onLog'];
}

export interface Swarm {
  readonly topology: Topology;
  readonly queue: QueueBackend;
  readonly sandbox: Sandbox;
  readonly dispatcher: Dispatcher;
  /** Drains runs in flight, then closes the queue (if the swarm created it) and the sandbox. */
  stop(): Promise<void>;
}

export async function startSwarm(topology: Topology, options: SwarmOptions = {}): Promise<Swarm> {
  const ownsQueue = options.queue === undefined;
  const queue = options.queue ?? (await createQueue(topology.queue));
  const totalConcurrency = topology.agents.reduce((n, a) => n + a.concurrency, 0);
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
    sandbox = new Sandbox({ engine: options.engine ?? 'auto', workers: options.workers ?? Math.max(1, Math.min(availableParallelism(), totalConcurrency)) });
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
    });
    for (const spec of topology.agents) await dispatcher.addAgent(spec);
  } catch (error) {
    await stop();
    throw error;
  }
  return { topology, queue, sandbox, dispatcher, stop };
}

export { Dispatcher, SOURCE_AGENT_HEADER, type AgentStats, type DispatcherOptions, type DispatcherSpan, type RunTiming } from './dispatcher.ts';
export { loadTopology, parseTopology, TOPOLOGY_DEFAULTS, type AgentSpec, type Topology } from './topology.ts';
