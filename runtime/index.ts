// The package's public API: everything a user imports from 'wasm-agent-sandbox' is named here.
export { Sandbox, type SandboxOptions, type LoadOptions, type CommandOptions, type HibernationOptions, type Residency } from './sandbox.ts';
export { Agent } from './agent/agent.ts';
export { DEFAULT_LIMITS, type Limits, type RunResult, type RunStatus, type AgentEvent, type AgentLog, type LogLevel, type EngineName, type EngineChoice, type Isolation } from './agent/types.ts';
export { SandboxError, isSandboxError, type SandboxErrorCode } from './errors.ts';
// What an agent may call on the host: grants per agent, default-deny.
export { resolveGrants, GRANT_KEYS, type GrantOptions, type Grants, type GrantContext } from './capabilities/grants.ts';
export { GRAPH_DATA_METHODS, GRAPH_PARSE_METHODS, type GraphGrant, type ResolvedGraphGrant, type GraphSource } from './capabilities/graph.ts';
export { encode, decode } from './codec.ts';
export { selectEngine } from './engine/select.ts';

// Metering, for other tools and engines: a module instrument() returns runs in plain WebAssembly.
export { instrument, instrumentWithReport, ModuleError, isModuleError, SANDBOX_EXPORTS, SANDBOX_FLAGS, type InstrumentOptions, type InstrumentReport, type ModuleErrorCode } from './module/instrument.ts';

// The WebAssembly engine written in TypeScript, with the shape of the `WebAssembly` namespace.
export { emulator } from './engine/emulator/index.ts';

// The event fabric.
export { createQueue, parseQueueUrl, type QueueConfig } from './queue/index.ts';
export type * from './queue/types.ts';

// The graph compute service.
export {
  Graph,
  GraphStore,
  GraphServer,
  serveGraph,
  GraphClient,
  GraphError,
  isGraphError,
  parseFile,
  parseRepository,
  type GraphClientOptions,
  type GraphServerOptions,
  type RequestOptions as GraphRequestOptions,
  type GraphErrorCode,
} from './graph/index.ts';

// Agents on topics: the topology file (sandbox.yaml) and the dispatcher that turns messages into runs.
export { startSwarm, defaultWorkers, Dispatcher, loadTopology, parseTopology, SOURCE_AGENT_HEADER, TOPOLOGY_DEFAULTS, type Swarm, type SwarmOptions, type AgentStats, type DispatcherOptions, type DispatcherSpan, type RunTiming, type AgentSpec, type AgentInstances, type Topology } from './swarm/index.ts';

// Operations: the audit trail, Prometheus metrics and the health computation behind `sandbox audit`.
export { AuditLog, RotatingFileDestination, messageId, MESSAGE_ID_HEADER, type AuditLogOptions, type AuditRecord, type AuditStatus } from './ops/audit-log.ts';
export { SwarmMetrics, serveMetrics, type MetricsSource, type SwarmMetricsOptions } from './ops/metrics.ts';
export { evaluateHealth, parseHealthConfig, DEFAULT_HEALTH_CONFIG, HEALTH_CONFIG_TEMPLATE, FAILURE_MODES, type HealthConfig, type HealthReport, type HealthSignals, type FailureMode, type ModeReport, type Severity } from './ops/health.ts';
export { parsePrometheusText, type Sample } from './ops/prom-text.ts';
export { signalsFromEndpoint, signalsFromPrometheus, signalsFromScrapes } from './ops/signals.ts';
