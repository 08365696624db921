// Subpath `wasm-agent-sandbox/ops/metrics`: Prometheus metrics for a swarm (needs the optional package prom-client).
export { SwarmMetrics, serveMetrics, type MetricsSource, type SwarmMetricsOptions } from '../ops/metrics.ts';
