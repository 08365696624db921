// The topology file (`sandbox.yaml`): parses and validates which queue, which agents, what they subscribe to.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { GRANT_KEYS, resolveGrants } from '../capabilities/grants.ts';
import type { HttpOptions } from '../capabilities/http.ts';
import type { GraphGrant } from '../capabilities/graph.ts';
import { parseGraphUrl } from '../graph/client.ts';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type YAMLMap } from 'yaml';
import { DEFAULT_LIMITS, type Limits } from '../agent/types.ts';
import { SandboxError } from '../errors.ts';
import type { HibernationOptions } from '../sandbox.ts';
import { parseQueueUrl } from '../queue/index.ts';
import { validatePattern, validateTopic } from '../queue/topics.ts';
import { DEFAULT_DEAD_LETTER_TOPIC } from '../queue/types.ts';
import type { EscalationConfig } from './escalation.ts';
import { CLUSTER_KEYS, resolveClusterConfig, type ClusterConfig } from '../cluster/config.ts';

export interface AgentSpec {
  name: string;
  /** Absolute path of the .wasm module (the file gives it relative to the topology file). */
  module: string;
  limits: Partial<Limits>;
  subscribe: string[];
  /** Consumer group; agents of the same group in several `sandbox serve` processes share the work. */
  group: string;
  /** Runs at once; each gets its own instance of the agent. */
  concurrency: number;
  /**
   * `fixed` (absent means the same): `concurrency` instances share the messages. `per-key`: one instance per
   * message key, loaded with the hibernation key `<name>/<key>` so its state outlives the process.
   */
  instances?: AgentInstances;
  /** Deliveries of a message before it is dead-lettered. */
  maxDeliveries: number;
  /** First redelivery delay after a failed run; doubles per attempt. */
  backoffMs: number;
  /** Runs admitted per second (token bucket); absent: unlimited. */
  rate?: number;
  /** Token bucket capacity (default: one second's worth of `rate`). */
  burst?: number;
  /** Messages the agent holds at once (waiting for a token or an instance, or running); default concurrency × pipeline. */
  inbox?: number;
  /**
   * The agent's graph grant (runtime/capabilities/graph.ts), checked; parse dirs absolute. Its namespace defaults to
   * `topology.<name>`: one per entry, shared by the entry's instances (and by `sandbox serve` processes of it).
   */
  graph?: GraphGrant;
  /** Read-only strings the agent may read (`sandbox.config`, Extism `config_get`). */
  config?: Record<string, string>;
  /** Hosts the agent may reach over HTTP, and the grant's methods, response cap and time limit (checked). */
  allowedHosts?: string[];
  http?: HttpOptions;
}

/** Swarm-wide admission: one token bucket shared by every agent, and how long a message may wait for a token. */
export interface AdmissionSpec {
  rate: number;
  burst?: number;
  /** A message whose token is further off than this is nak'd with that delay instead of held (default 1000). */
  maxWaitMs?: number;
}

/** How an agent's instances map to messages: a fixed set, or one per message key (needs hibernation). */
export type AgentInstances = 'fixed' | 'per-key';

export interface Topology {
  /** `memory`, `nats://host:port` or `kafka://host:port`. */
  queue: string;
  deadLetter: string;
  agents: AgentSpec[];
  admission?: AdmissionSpec;
  escalation?: EscalationConfig;
  /** Hibernation of the swarm's stateful agents (the Sandbox option); `store` is absolute here. */
  hibernation?: HibernationOptions;
  /** The graph service agents with a `graph` grant reach: 'embedded', unix:///path or tcp://host:port. */
  graph?: string;
  /** Cluster mode (docs/cluster.md): per-key agents shared by several `sandbox serve` processes on NATS. As written
   *  in the file; the node id and defaults are filled in when a node starts (resolveClusterConfig). */
  cluster?: Partial<ClusterConfig>;
  /** The file it came from, when it came from one. */
  source?: string;
}

export const TOPOLOGY_DEFAULTS = { concurrency: 1, maxDeliveries: 5, backoffMs: 100 } as const;

const TOP_KEYS = ['queue', 'deadLetter', 'agents', 'admission', 'escalation', 'hibernation', 'graph', 'cluster'];
const AGENT_KEYS = [
  'name',
  'module',
  'limits',
  'subscribe',
  'group',
  'concurrency',
  'instances',
  'maxDeliveries',
  'backoffMs',
  'rate',
  'burst',
  'inbox',
  ...GRANT_KEYS,
];
const HIBERNATION_KEYS = ['store', 'maxResident', 'maxResidentBytes', 'idleMs', 'checkpointMs'];
const INSTANCES: readonly AgentInstances[] = ['fixed', 'per-key'];
const ADMISSION_KEYS = ['rate', 'burst', 'maxWaitMs'];
const ESCALATION_KEYS = ['redis', 'window', 'threshold', 'cooldown', 'buckets', 'prefix'];
const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];
const BYTE_LIMITS = new Set<keyof Limits>([
  'memoryBytes',
  'inputBytes',
  'outputBytes',
  'eventBytes',
  'logBytes',
  'logMessageBytes',
]);
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  kb: 1024,
  k: 1024,
  mib: 1 << 20,
  mb: 1 << 20,
  m: 1 << 20,
  gib: 1 << 30,
  gb: 1 << 30,
  g: 1 << 30,
};
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A topology error: SANDBOX_INVALID_OPTIONS with every problem found, each naming its field and line. */
function invalid(source: string, problems: string[]): SandboxError {
  const list = problems.map((p) => `  - ${p}`).join('\n');
  return new SandboxError('SANDBOX_INVALID_OPTIONS', `${source}: invalid topology:\n${list}`);
}

/** Parses and validates topology text. `baseDir` resolves module paths; nothing is read from disk. */
export function parseTopology(text: string, options: { source?: string; baseDir?: string } = {}): Topology {
  const source = options.source ?? 'sandbox.yaml';
  const baseDir = options.baseDir ?? process.cwd();
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const problems: string[] = [];
  const at = (node: unknown): string => {
    const range = (node as YamlNode | undefined)?.range;
    return range ? ` (line ${lines.linePos(range[0]).line})` : '';
  };
  for (const error of doc.errors) {
    problems.push(`line ${lines.linePos(error.pos[0]).line}: ${error.message.split('\n')[0]}`);
  }
  if (problems.length > 0) throw invalid(source, problems);

  const root = doc.contents;
  if (!isMap(root)) throw invalid(source, ['the file must be a map with `queue`, `deadLetter` and `agents`']);
  const fields = (map: YAMLMap<unknown, unknown>, allowed: string[], where: string): Map<string, YamlNode | null> => {
    const out = new Map<string, YamlNode | null>();
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (!allowed.includes(key))
        problems.push(`${where}${key}${at(pair.key)}: unknown key (expected one of ${allowed.join(', ')})`);
      else out.set(key, (pair.value as YamlNode | null) ?? null);
    }
    return out;
  };
  const scalar = (node: YamlNode | null | undefined): unknown => (isScalar(node) ? node.value : undefined);
  const positiveInt = (node: YamlNode | null | undefined, field: string, fallback: number, min = 1): number => {
    if (node === undefined) return fallback;
    const value = scalar(node);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      problems.push(`${field}${at(node)}: expected an integer ≥ ${min}, got ${JSON.stringify(value ?? null)}`);
      return fallback;
    }
    return value;
  };
  const positiveNumber = (node: YamlNode | null | undefined, field: string): number | undefined => {
    if (node === undefined) return undefined;
    const value = scalar(node);
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      problems.push(`${field}${at(node)}: expected a positive number, got ${JSON.stringify(value ?? null)}`);
      return undefined;
    }
    return value;
  };

  const top = fields(root, TOP_KEYS, '');
  const queueNode = top.get('queue');
  let queue = 'memory';
  if (queueNode !== undefined) {
    const value = scalar(queueNode);
    if (typeof value !== 'string')
      problems.push(`queue${at(queueNode)}: expected memory, nats://host:port or kafka://host:port`);
    else {
      try {
        parseQueueUrl(value);
        queue = value;
      } catch (error) {
        problems.push(`queue${at(queueNode)}: ${(error as Error).message}`);
      }
    }
  }
  const dlNode = top.get('deadLetter');
  let deadLetter: string = DEFAULT_DEAD_LETTER_TOPIC;
  if (dlNode !== undefined) {
    const value = scalar(dlNode);
    try {
      if (typeof value !== 'string') throw new Error('expected a topic');
      validateTopic(value);
      deadLetter = value;
    } catch (error) {
      problems.push(`deadLetter${at(dlNode)}: ${(error as Error).message}`);
    }
  }

  const hibernationNode = top.get('hibernation');
  let hibernation: HibernationOptions | undefined;
  if (hibernationNode !== undefined) {
    if (!isMap(hibernationNode))
      problems.push(`hibernation${at(hibernationNode)}: expected a map with store, maxResident, idleMs, checkpointMs`);
    else {
      const f = fields(hibernationNode, HIBERNATION_KEYS, 'hibernation.');
      const storeNode = f.get('store');
      const store = scalar(storeNode);
      if (typeof store !== 'string' || store.length === 0)
        problems.push(
          `hibernation.store${at(storeNode ?? hibernationNode)}: expected the path of a directory (relative to this file)`,
        );
      hibernation = { store: typeof store === 'string' ? resolve(baseDir, store) : '' };
      if (f.has('maxResident'))
        hibernation.maxResident = positiveInt(f.get('maxResident'), 'hibernation.maxResident', 8192);
      if (f.has('maxResidentBytes'))
        hibernation.maxResidentBytes = positiveInt(f.get('maxResidentBytes'), 'hibernation.maxResidentBytes', 1);
      if (f.has('idleMs')) hibernation.idleMs = positiveInt(f.get('idleMs'), 'hibernation.idleMs', 60_000, 0);
      if (f.has('checkpointMs'))
        hibernation.checkpointMs = positiveInt(f.get('checkpointMs'), 'hibernation.checkpointMs', 1000, 0);
    }
  }

  const agents: AgentSpec[] = [];
  const agentsNode = top.get('agents');
  if (!isSeq(agentsNode) || agentsNode.items.length === 0) {
    problems.push(`agents${at(agentsNode ?? root)}: expected a non-empty list of agents`);
  } else {
    const names = new Set<string>();
    agentsNode.items.forEach((item, i) => {
      let where = `agents[${i}]`;
      if (!isMap(item)) {
        problems.push(`${where}${at(item)}: expected a map with name, module and subscribe`);
        return;
      }
      const nameNode = item.get('name', true) as YamlNode | undefined;
      const name = scalar(nameNode);
      if (typeof name !== 'string' || !NAME.test(name)) {
        problems.push(
          `${where}.name${at(nameNode ?? item)}: expected 1 to 64 letters, digits, _ or -, got ${JSON.stringify(name ?? null)}`,
        );
      } else {
        where = `agents[${i}] (${name})`;
        if (names.has(name)) problems.push(`${where}.name${at(nameNode)}: another agent has this name`);
        names.add(name);
      }
      const f = fields(item, AGENT_KEYS, `${where}.`);
      const moduleNode = f.get('module');
      const module = scalar(moduleNode);
      if (typeof module !== 'string' || module.length === 0)
        problems.push(`${where}.module${at(moduleNode ?? item)}: expected the path of a .wasm file`);
      const subNode = f.get('subscribe');
      const subscribe: string[] = [];
      const patterns = isSeq(subNode) ? subNode.items : isScalar(subNode) ? [subNode] : [];
      if (patterns.length === 0)
        problems.push(`${where}.subscribe${at(subNode ?? item)}: expected a pattern or a list of patterns`);
      for (const p of patterns) {
        const value = scalar(p as YamlNode);
        try {
          if (typeof value !== 'string') throw new Error('expected a pattern such as logs.>');
          validatePattern(value);
          subscribe.push(value);
        } catch (error) {
          problems.push(`${where}.subscribe${at(p)}: ${(error as Error).message}`);
        }
      }
      const groupNode = f.get('group');
      const group = groupNode === undefined ? name : scalar(groupNode);
      if (groupNode !== undefined && (typeof group !== 'string' || !NAME.test(group))) {
        problems.push(`${where}.group${at(groupNode)}: expected 1 to 64 letters, digits, _ or -`);
      }
      const limits: Partial<Limits> = {};
      const limitsNode = f.get('limits');
      if (limitsNode !== undefined) {
        if (!isMap(limitsNode)) problems.push(`${where}.limits${at(limitsNode)}: expected a map of limits`);
        else {
          for (const [key, node] of fields(limitsNode, LIMIT_KEYS, `${where}.limits.`)) {
            const k = key as keyof Limits;
            const value = parseLimit(k, scalar(node));
            if (value === undefined) {
              const hint = BYTE_LIMITS.has(k) ? 'a size such as 65536, 64KiB or 16MiB' : 'a non-negative integer';
              problems.push(
                `${where}.limits.${key}${at(node)}: expected ${hint}, got ${JSON.stringify(scalar(node) ?? null)}`,
              );
            } else limits[k] = value;
          }
        }
      }
      const spec: AgentSpec = {
        name: typeof name === 'string' ? name : `agent-${i}`,
        module: typeof module === 'string' ? resolve(baseDir, module) : '',
        limits,
        subscribe,
        group: typeof group === 'string' ? group : `agent-${i}`,
        concurrency: positiveInt(f.get('concurrency'), `${where}.concurrency`, TOPOLOGY_DEFAULTS.concurrency),
        maxDeliveries: positiveInt(f.get('maxDeliveries'), `${where}.maxDeliveries`, TOPOLOGY_DEFAULTS.maxDeliveries),
        backoffMs: positiveInt(f.get('backoffMs'), `${where}.backoffMs`, TOPOLOGY_DEFAULTS.backoffMs),
      };
      if (spec.concurrency > 256) problems.push(`${where}.concurrency${at(f.get('concurrency'))}: at most 256`);
      const instancesNode = f.get('instances');
      if (instancesNode !== undefined) {
        const value = scalar(instancesNode);
        if (typeof value !== 'string' || !(INSTANCES as readonly string[]).includes(value)) {
          problems.push(
            `${where}.instances${at(instancesNode)}: expected fixed or per-key, got ${JSON.stringify(value ?? null)}`,
          );
        } else {
          spec.instances = value as AgentInstances;
          if (value === 'per-key') {
            if (hibernationNode === undefined) {
              problems.push(
                `${where}.instances${at(instancesNode)}: per-key needs the top-level \`hibernation\` block (each key's state lives in its store)`,
              );
            }
            if (spec.concurrency > 1) {
              problems.push(
                `${where}.concurrency${at(f.get('concurrency'))}: a per-key agent has one instance per key; concurrency must be 1 (leave it out)`,
              );
            }
          }
        }
      }
      const rate = positiveNumber(f.get('rate'), `${where}.rate`);
      const burst = positiveNumber(f.get('burst'), `${where}.burst`);
      if (rate !== undefined) spec.rate = rate;
      if (burst !== undefined) {
        if (burst < 1) problems.push(`${where}.burst${at(f.get('burst'))}: at least 1`);
        if (rate === undefined) problems.push(`${where}.burst${at(f.get('burst'))}: needs a rate`);
        spec.burst = burst;
      }
      if (f.has('inbox')) spec.inbox = positiveInt(f.get('inbox'), `${where}.inbox`, 1);
      const graphNode = f.get('graph');
      if (graphNode !== undefined) {
        const raw = (graphNode as { toJSON(): unknown }).toJSON();
        const context = { defaultNamespace: `topology.${spec.name}`, baseDir, where: `${where}.graph${at(graphNode)}` };
        try {
          const grant = resolveGrants({ graph: raw }, context).graph;
          if (grant !== undefined) {
            spec.graph = {
              methods: [...grant.methods],
              namespace: grant.namespace,
              maxRequestBytes: grant.maxRequestBytes,
              maxResponseBytes: grant.maxResponseBytes,
              ...(grant.parseDirs.length > 0 ? { parse: { dirs: [...grant.parseDirs] } } : {}),
            };
          }
        } catch (error) {
          problems.push((error as Error).message);
        }
      }
      // Config and HTTP grants; host functions are JavaScript, so they are granted in code, never here.
      if (f.has('host'))
        problems.push(
          `${where}.host${at(f.get('host'))}: host functions are granted in code (load options, new Sandbox({ host }) or startSwarm's sandbox), not in sandbox.yaml`,
        );
      const written: Record<string, unknown> = {};
      for (const key of ['config', 'allowedHosts', 'http'] as const) {
        const node = f.get(key);
        if (node !== undefined) written[key] = (node as { toJSON(): unknown }).toJSON();
      }
      if (Object.keys(written).length > 0) {
        try {
          const grants = resolveGrants(written, { defaultNamespace: `topology.${spec.name}`, baseDir, where });
          if (grants.config) spec.config = { ...grants.config };
          if (grants.http) {
            spec.allowedHosts = [...grants.http.hosts];
            spec.http = {
              methods: [...grants.http.methods],
              maxResponseBytes: grants.http.maxResponseBytes,
              timeoutMs: grants.http.timeoutMs,
            };
          }
        } catch (error) {
          problems.push((error as Error).message);
        }
      }
      agents.push(spec);
    });
  }
  const topology: Topology = { queue, deadLetter, agents, source };
  if (hibernation !== undefined) topology.hibernation = hibernation;
  const graphSourceNode = top.get('graph');
  if (graphSourceNode !== undefined) {
    const value = scalar(graphSourceNode);
    try {
      if (typeof value !== 'string') throw new Error('expected embedded, unix:///path or tcp://host:port');
      if (value !== 'embedded') parseGraphUrl(value);
      topology.graph = value;
    } catch (error) {
      problems.push(`graph${at(graphSourceNode)}: ${(error as Error).message}`);
    }
  }
  const admissionNode = top.get('admission');
  if (admissionNode !== undefined) {
    if (!isMap(admissionNode)) problems.push(`admission${at(admissionNode)}: expected a map with rate, burst`);
    else {
      const f = fields(admissionNode, ADMISSION_KEYS, 'admission.');
      const rate = positiveNumber(f.get('rate'), 'admission.rate');
      if (!f.has('rate')) problems.push(`admission${at(admissionNode)}: rate is required`);
      const burst = positiveNumber(f.get('burst'), 'admission.burst');
      if (burst !== undefined && burst < 1) problems.push(`admission.burst${at(f.get('burst'))}: at least 1`);
      if (rate !== undefined) {
        topology.admission = { rate };
        if (burst !== undefined) topology.admission.burst = burst;
        if (f.has('maxWaitMs'))
          topology.admission.maxWaitMs = positiveInt(f.get('maxWaitMs'), 'admission.maxWaitMs', 1000);
      }
    }
  }
  const escalationNode = top.get('escalation');
  if (escalationNode !== undefined) {
    if (!isMap(escalationNode))
      problems.push(`escalation${at(escalationNode)}: expected a map with window, threshold, cooldown`);
    else {
      const f = fields(escalationNode, ESCALATION_KEYS, 'escalation.');
      for (const key of ['window', 'threshold', 'cooldown'])
        if (!f.has(key)) problems.push(`escalation${at(escalationNode)}: ${key} is required`);
      const escalation: EscalationConfig = {
        window: positiveInt(f.get('window'), 'escalation.window', 60_000),
        threshold: positiveInt(f.get('threshold'), 'escalation.threshold', 5),
        cooldown: positiveInt(f.get('cooldown'), 'escalation.cooldown', 60_000),
      };
      if (f.has('buckets')) escalation.buckets = positiveInt(f.get('buckets'), 'escalation.buckets', 10);
      for (const key of ['redis', 'prefix'] as const) {
        const node = f.get(key);
        if (node === undefined) continue;
        const value = scalar(node);
        if (typeof value !== 'string' || value.length === 0)
          problems.push(`escalation.${key}${at(node)}: expected a string`);
        else if (key === 'redis' && !/^rediss?:\/\//.test(value))
          problems.push(`escalation.redis${at(node)}: expected redis://host:port`);
        else escalation[key] = value;
      }
      topology.escalation = escalation;
    }
  }
  const clusterNode = top.get('cluster');
  if (clusterNode !== undefined) {
    if (!isMap(clusterNode)) problems.push(`cluster${at(clusterNode)}: expected a map (bucket, partitions, node, ...)`);
    else {
      const f = fields(clusterNode, [...CLUSTER_KEYS], 'cluster.');
      const cluster: Partial<ClusterConfig> = {};
      for (const key of ['bucket', 'node', 'nats'] as const) {
        const node = f.get(key);
        if (node === undefined) continue;
        const value = scalar(node);
        if (typeof value !== 'string') problems.push(`cluster.${key}${at(node)}: expected a name`);
        else cluster[key] = value;
      }
      for (const key of ['partitions', 'replicas', 'heartbeatMs', 'memberTimeoutMs'] as const) {
        if (f.has(key)) cluster[key] = positiveInt(f.get(key), `cluster.${key}`, 1);
      }
      try {
        // Checked now with a placeholder node id, so a bad value fails at load rather than when serving.
        resolveClusterConfig({ node: 'check', ...cluster }, {});
      } catch (error) {
        problems.push(`${(error as Error).message}${at(clusterNode)}`);
      }
      if (queue.startsWith('kafka://')) {
        if (cluster.nats === undefined)
          problems.push(
            `cluster${at(clusterNode)}: with a kafka:// queue, cluster.nats must name the NATS servers of the bucket (the fenced key states live in JetStream)`,
          );
        // A key's applied position is an offset in one partition of one Kafka topic: every clustered pattern must
        // name the same Kafka topic (its first token).
        const firstTokens = new Set(
          agents.filter((a) => a.instances === 'per-key').flatMap((a) => a.subscribe.map((s) => s.split('.')[0]!)),
        );
        if (firstTokens.size > 1 || [...firstTokens].some((t) => t === '*' || t === '>'))
          problems.push(
            `cluster${at(clusterNode)}: on Kafka the per-key agents must all read one Kafka topic (one first token, not a wildcard), got ${[...firstTokens].join(', ')}`,
          );
      } else if (!queue.startsWith('nats://')) {
        problems.push(`cluster${at(clusterNode)}: cluster mode needs a nats:// or kafka:// queue`);
      }
      if (!agents.some((a) => a.instances === 'per-key'))
        problems.push(
          `cluster${at(clusterNode)}: no agent has \`instances: per-key\`; cluster mode shares per-key agents`,
        );
      topology.cluster = cluster;
    }
  }
  if (problems.length > 0) throw invalid(source, problems);
  return topology;
}

function parseLimit(key: keyof Limits, value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || !BYTE_LIMITS.has(key)) return undefined;
  const m = /^(\d+)\s*([a-zA-Z]*)$/.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? Number(m[1]) * unit : undefined;
}

/** Reads, parses and validates a topology file, and checks that every agent's module exists. */
export async function loadTopology(file: string): Promise<Topology> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SandboxError('SANDBOX_INVALID_OPTIONS', `cannot read topology ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const topology = parseTopology(text, { source: file, baseDir: dirname(resolve(file)) });
  const missing = topology.agents
    .filter((a) => !existsSync(a.module))
    .map((a) => `agents (${a.name}).module: no such file ${a.module}`);
  if (missing.length > 0) throw invalid(file, missing);
  return topology;
}
