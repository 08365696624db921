// Subpath `wasm-agent-sandbox/ops/metrics`: Prometheus metrics and the live dashboard for a swarm (need the optional package prom-client).
export { SwarmMetrics, serveMetrics, type MetricsSource, type SwarmMetricsOptions } from '../ops/metrics.ts';
export {
  DashboardState,
  type AgentState,
  type AgentView,
  type DashboardSnapshot,
  type DashboardSources,
  type DashboardStateOptions,
  type DeadLetterView,
  type Percentiles,
} from '../ops/dashboard-state.ts';
export { serveDashboard, type DashboardServer, type DashboardServerOptions } from '../ops/dashboard-server.ts';
