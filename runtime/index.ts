// The package's public API: everything a user imports from 'wasm-agent-sandbox' is named here.
export { Sandbox, type SandboxOptions, type LoadOptions } from './sandbox.ts';
export { Agent } from './agent/agent.ts';
export { DEFAULT_LIMITS, type Limits, type RunResult, type RunStatus, type AgentEvent, type AgentLog, type LogLevel, type EngineName, type EngineChoice } from './agent/types.ts';
export { SandboxError, isSandboxError, type SandboxErrorCode } from './errors.ts';
export { encode, decode } from './codec.ts';
export { selectEngine } from './engine/select.ts';
