// The package root: what a newcomer needs to run agents. Everything else is a subpath (see package.json `exports`).
// Nothing here may load node:http, prom-client, ioredis, yaml or WebAssembly at import: Node 22 under --jitless
// crashes on node:http, and the optional packages may not be installed.
export {
  Sandbox,
  type SandboxOptions,
  type LoadOptions,
  type CommandOptions,
  type HibernationOptions,
  type Residency,
} from './sandbox.ts';
export { Agent } from './agent/agent.ts';
export type { PluginOutput } from './agent/plugin-output.ts';
export {
  DEFAULT_LIMITS,
  type Limits,
  type RunResult,
  type EncodedRunOptions,
  type RunStatus,
  type AgentEvent,
  type AgentLog,
  type LogLevel,
  type EngineName,
  type EngineChoice,
  type Isolation,
} from './agent/types.ts';
export { SandboxError, isSandboxError, type SandboxErrorCode } from './errors.ts';
// What an agent may call on the host: grants per agent (load options), default-deny.
export type { GrantOptions } from './capabilities/grants.ts';
export type { HostFunction, HostFunctions, HostCallContext } from './capabilities/host-functions.ts';
export type { HttpOptions } from './capabilities/http.ts';
export type { GraphGrant, GraphSource } from './capabilities/graph.ts';
export { encode, decode } from './codec.ts';
export { selectEngine } from './engine/select.ts';

// The event fabric: the memory queue is built in; NATS and Kafka load on first use (optional packages).
export { createQueue, parseQueueUrl, type QueueConfig } from './queue/index.ts';
export type * from './queue/types.ts';
