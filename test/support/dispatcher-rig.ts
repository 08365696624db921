// A dispatcher on the memory queue running one fixture agent on `in.>`, with its alerts, dead letters and log lines collected.
import { createQueue } from '../../runtime/queue/index.ts';
import type { QueueBackend, QueueMessage } from '../../runtime/queue/types.ts';
import { Sandbox } from '../../runtime/sandbox.ts';
import { Dispatcher, type DispatcherOptions } from '../../runtime/swarm/dispatcher.ts';
import type { AgentSpec } from '../../runtime/swarm/topology.ts';
import { fixturePath, requireBuilt } from './paths.ts';

export interface Rig {
  queue: QueueBackend;
  sandbox: Sandbox;
  dispatcher: Dispatcher;
  /** Events on `alerts.>`. */
  alerts: QueueMessage[];
  /** Messages on the dead-letter topic, `dead.letter`. */
  dead: QueueMessage[];
  /** The dispatcher's log lines. */
  logs: string[];
}

let current: Rig | undefined;

/** An agent running a fixture on `in.>` (name and group: the fixture's name), one instance, three deliveries, 5 ms backoff. */
export function fixtureAgent(fixture: string, spec: Partial<AgentSpec> = {}): AgentSpec {
  return {
    name: fixture,
    module: requireBuilt(fixturePath(fixture)),
    limits: {},
    subscribe: ['in.>'],
    group: fixture,
    concurrency: 1,
    maxDeliveries: 3,
    backoffMs: 5,
    ...spec,
  };
}

/** Starts the rig for `fixture` (agent name and group default to the fixture's name); stopRig ends it. */
export async function startRig(
  fixture: string,
  spec: Partial<AgentSpec> = {},
  options: Partial<DispatcherOptions> = {},
): Promise<Rig> {
  const queue = await createQueue('memory');
  const sandbox = new Sandbox({ workers: 1 });
  const logs: string[] = [];
  const dispatcher = new Dispatcher({
    queue,
    sandbox,
    deadLetter: 'dead.letter',
    onLog: (l) => void logs.push(l),
    ...options,
  });
  const alerts: QueueMessage[] = [];
  const dead: QueueMessage[] = [];
  await queue.subscribe('alerts.>', (m) => void alerts.push(m));
  await queue.subscribe('dead.letter', (m) => void dead.push(m));
  await dispatcher.addAgent(fixtureAgent(fixture, spec));
  current = { queue, sandbox, dispatcher, alerts, dead, logs };
  return current;
}

/** Stops the running rig, if any (an afterEach). */
export async function stopRig(): Promise<void> {
  const rig = current;
  if (rig === undefined) return;
  current = undefined;
  await rig.dispatcher.stop();
  await rig.queue.close();
  await rig.sandbox.close();
}
