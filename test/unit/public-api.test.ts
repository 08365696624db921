// The package's public surface: a small root, subpaths for the rest, and every name the root used to export still reachable.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.ts';
// Types are checked by `npm run typecheck`: each name the root exported before 0.2 must resolve from a subpath.
import type {
  SandboxOptions,
  LoadOptions,
  CommandOptions,
  HibernationOptions,
  Residency,
  Limits,
  RunResult,
  RunStatus,
  AgentEvent,
  AgentLog,
  LogLevel,
  EngineName,
  EngineChoice,
  SandboxErrorCode,
  QueueConfig,
  QueueBackend,
  QueueMessage,
} from '../../runtime/index.ts';
import type { InstrumentOptions, InstrumentReport, ModuleErrorCode } from '../../runtime/exports/instrument.ts';
import type { GraphClientOptions, GraphServerOptions, GraphErrorCode } from '../../runtime/exports/graph.ts';
import type {
  Swarm,
  SwarmOptions,
  AgentStats,
  DispatcherOptions,
  DispatcherSpan,
  RunTiming,
  AgentSpec,
  AgentInstances,
  Topology,
} from '../../runtime/exports/swarm.ts';
import type {
  AuditLogOptions,
  AuditRecord,
  AuditStatus,
  HealthConfig,
  HealthReport,
  HealthSignals,
  FailureMode,
  ModeReport,
  Severity,
  Sample,
} from '../../runtime/exports/ops.ts';
import type { MetricsSource, SwarmMetricsOptions } from '../../runtime/exports/metrics.ts';

export type FormerRootTypes = [
  SandboxOptions,
  LoadOptions,
  CommandOptions,
  HibernationOptions,
  Residency,
  Limits,
  RunResult,
  RunStatus,
  AgentEvent,
  AgentLog,
  LogLevel,
  EngineName,
  EngineChoice,
  SandboxErrorCode,
  QueueConfig,
  QueueBackend,
  QueueMessage,
  InstrumentOptions,
  InstrumentReport,
  ModuleErrorCode,
  GraphClientOptions,
  GraphServerOptions,
  GraphErrorCode,
  Swarm,
  SwarmOptions,
  AgentStats,
  DispatcherOptions,
  DispatcherSpan,
  RunTiming,
  AgentSpec,
  AgentInstances,
  Topology,
  AuditLogOptions,
  AuditRecord,
  AuditStatus,
  HealthConfig,
  HealthReport,
  HealthSignals,
  FailureMode,
  ModeReport,
  Severity,
  Sample,
  MetricsSource,
  SwarmMetricsOptions,
];

/** The values `import … from 'wasm-agent-sandbox'` gave in 0.1.0. */
const FORMER_ROOT = [
  'Agent',
  'AuditLog',
  'DEFAULT_HEALTH_CONFIG',
  'DEFAULT_LIMITS',
  'Dispatcher',
  'FAILURE_MODES',
  'Graph',
  'GraphClient',
  'GraphError',
  'GraphServer',
  'GraphStore',
  'HEALTH_CONFIG_TEMPLATE',
  'MESSAGE_ID_HEADER',
  'ModuleError',
  'RotatingFileDestination',
  'SANDBOX_EXPORTS',
  'SANDBOX_FLAGS',
  'SOURCE_AGENT_HEADER',
  'Sandbox',
  'SandboxError',
  'SwarmMetrics',
  'TOPOLOGY_DEFAULTS',
  'createQueue',
  'decode',
  'defaultWorkers',
  'emulator',
  'encode',
  'evaluateHealth',
  'instrument',
  'instrumentWithReport',
  'isGraphError',
  'isModuleError',
  'isSandboxError',
  'loadTopology',
  'messageId',
  'parseFile',
  'parseHealthConfig',
  'parsePrometheusText',
  'parseQueueUrl',
  'parseRepository',
  'parseTopology',
  'selectEngine',
  'serveGraph',
  'serveMetrics',
  'signalsFromEndpoint',
  'signalsFromPrometheus',
  'signalsFromScrapes',
  'startSwarm',
];

interface ExportEntry {
  types: string;
  import: string;
  default: string;
}
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  exports: Record<string, ExportEntry | string>;
};
const subpaths = Object.entries(pkg.exports).filter((e): e is [string, ExportEntry] => typeof e[1] !== 'string');
/** dist/runtime/x.js → runtime/x.ts, the source the test can import without a build. */
const source = (entry: ExportEntry) => join(repoRoot, entry.import.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));

describe('public API', () => {
  it('keeps the root small', async () => {
    const root = await import('../../runtime/index.ts');
    expect(Object.keys(root).sort()).toEqual([
      'Agent',
      'DEFAULT_LIMITS',
      'Sandbox',
      'SandboxError',
      'createQueue',
      'decode',
      'encode',
      'isSandboxError',
      'parseQueueUrl',
      'selectEngine',
    ]);
  });

  it('reaches every former root name from some subpath', async () => {
    const reachable = new Set<string>();
    for (const [, entry] of subpaths)
      for (const name of Object.keys((await import(source(entry))) as object)) reachable.add(name);
    expect(FORMER_ROOT.filter((name) => !reachable.has(name))).toEqual([]);
  });

  it('gives every subpath types, import and default conditions that name the same compiled file', () => {
    for (const [subpath, entry] of subpaths) {
      expect(Object.keys(entry), subpath).toEqual(['types', 'import', 'default']);
      expect(entry.default, subpath).toBe(entry.import);
      expect(entry.types, subpath).toBe(entry.import.replace(/\.js$/, '.d.ts'));
    }
  });

  it('exports the diagnostics channels from ops, under the names docs/operations.md gives', async () => {
    const ops = await import('../../runtime/exports/ops.ts');
    expect([ops.runChannel, ops.publishChannel, ops.settleChannel, ops.spanChannel].map((c) => c.name)).toEqual([
      'sandbox:swarm:run',
      'sandbox:swarm:publish',
      'sandbox:queue:settle',
      'sandbox:trace:span',
    ]);
    const doc = readFileSync(join(repoRoot, 'docs', 'operations.md'), 'utf8');
    for (const name of ['sandbox:swarm:run', 'sandbox:swarm:publish', 'sandbox:queue:settle', 'sandbox:trace:span'])
      expect(doc, name).toContain(`\`${name}\``);
  });

  it('exports the graph algorithms docs/graph.md uses', async () => {
    const graph = await import('../../runtime/exports/graph.ts');
    for (const name of ['Graph', 'topologicalSort', 'shortestPath', 'subgraphMatch'])
      expect(typeof (graph as Record<string, unknown>)[name], name).toBe('function');
  });
});
