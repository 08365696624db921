// Subpath `wasm-agent-sandbox/ops`: the audit trail, the health computation behind `sandbox audit`, diagnostics channels and trace context.
export {
  AuditLog,
  RotatingFileDestination,
  messageId,
  MESSAGE_ID_HEADER,
  type AuditLogOptions,
  type AuditRecord,
  type AuditStatus,
} from '../ops/audit-log.ts';
export {
  evaluateHealth,
  parseHealthConfig,
  DEFAULT_HEALTH_CONFIG,
  HEALTH_CONFIG_TEMPLATE,
  FAILURE_MODES,
  type HealthConfig,
  type HealthReport,
  type HealthSignals,
  type FailureMode,
  type ModeReport,
  type Severity,
} from '../ops/health.ts';
export { parsePrometheusText, type Sample } from '../ops/prom-text.ts';
export { signalsFromEndpoint, signalsFromPrometheus, signalsFromScrapes } from '../ops/signals.ts';
export {
  runChannel,
  publishChannel,
  settleChannel,
  spanChannel,
  type RunChannelMessage,
  type PublishChannelMessage,
  type SettleChannelMessage,
  type SpanChannelMessage,
} from '../channels.ts';
export { parseTraceParent, formatTraceParent, TRACEPARENT_HEADER, type TraceParent } from '../ops/trace-context.ts';
