// Subpath `wasm-agent-sandbox/swarm`: agents on topics — the topology file (sandbox.yaml) and the dispatcher.
export {
  startSwarm,
  defaultWorkers,
  Dispatcher,
  loadTopology,
  parseTopology,
  SOURCE_AGENT_HEADER,
  TOPOLOGY_DEFAULTS,
  type Swarm,
  type SwarmOptions,
  type AgentStats,
  type DispatcherOptions,
  type DispatcherSpan,
  type RunTiming,
  type AgentSpec,
  type AgentInstances,
  type Topology,
} from '../swarm/index.ts';
