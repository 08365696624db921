// Swarm health from metrics: failure modes graded against YAML thresholds, and a 0-100 score.
import { parse as parseYaml } from 'yaml';
import { SandboxError } from '../errors.ts';

export type Severity = 'ok' | 'warning' | 'critical';
export type FailureMode =
  'event-loop-starvation' | 'worker-saturation' | 'admission-shedding' | 'fuel-exhaustion-storm' | 'trap-storm';
export const FAILURE_MODES: readonly FailureMode[] = [
  'event-loop-starvation',
  'worker-saturation',
  'admission-shedding',
  'fuel-exhaustion-storm',
  'trap-storm',
];

/** What the health computation reads; rates are per second over the audit window. */
export interface HealthSignals {
  /** Host event loop delay p99 in milliseconds (the worst the window saw). */
  eventLoopDelayP99Ms: number;
  /** Host event loop utilization 0-1. */
  eventLoopUtilization: number;
  /** Busy fraction of the agent workers: run time per second divided by the number of workers. */
  workerUtilization: number;
  runsPerSec: number;
  outOfFuelPerSec: number;
  trapsPerSec: number;
  /** Messages shed by admission control per second; null when the metric is absent. */
  shedPerSec: number | null;
}

export interface Threshold {
  warning: number;
  critical: number;
}

export interface StormThreshold extends Threshold {
  /** Below this many runs per second a high ratio is noise (2 traps out of 3 runs), not a storm. */
  minRunsPerSec: number;
}

export interface HealthConfig {
  /** PromQL range for rates when querying Prometheus, in seconds. */
  windowSeconds: number;
  /** Seconds between the two scrapes when reading a /metrics endpoint directly. */
  sampleSeconds: number;
  eventLoopStarvation: Threshold;
  workerSaturation: Threshold;
  admissionShedding: Threshold;
  fuelExhaustionStorm: StormThreshold;
  trapStorm: StormThreshold;
  /** Points taken off 100 per mode at each severity. */
  penalty: { warning: number; critical: number };
}

export const DEFAULT_HEALTH_CONFIG: Readonly<HealthConfig> = Object.freeze({
  windowSeconds: 60,
  sampleSeconds: 5,
  eventLoopStarvation: { warning: 50, critical: 200 },
  workerSaturation: { warning: 0.8, critical: 0.95 },
  admissionShedding: { warning: 0.01, critical: 0.1 },
  fuelExhaustionStorm: { warning: 0.05, critical: 0.25, minRunsPerSec: 1 },
  trapStorm: { warning: 0.05, critical: 0.25, minRunsPerSec: 1 },
  penalty: { warning: 15, critical: 40 },
});

/** The file `sandbox audit --init` writes: every threshold, with what it measures. */
export const HEALTH_CONFIG_TEMPLATE = `# Thresholds for \`sandbox audit\` (see docs/operations.md). A mode is "warning" at or above its warning
# value and "critical" at or above its critical value. The health score is 100 minus a penalty per mode.

# Range of the PromQL rate() queries when auditing a Prometheus server (--target), in seconds.
windowSeconds: 60
# Seconds between the two scrapes when auditing a /metrics endpoint directly (--metrics).
sampleSeconds: 5

# Host event loop delay p99, in milliseconds (sandbox_event_loop_delay_p99_seconds). The host loop only
# dispatches and settles; agent code runs in workers, so delay here stalls every agent at once.
eventLoopStarvation:
  warning: 50
  critical: 200

# Busy fraction of the agent workers: run time per second / workers
# (rate(sandbox_run_duration_seconds_sum) / sandbox_workers).
workerSaturation:
  warning: 0.8
  critical: 0.95

# Shed messages / (shed + runs) (sandbox_admission_shed_total). Where the metric is absent it reads as 0,
# and the report says so.
admissionShedding:
  warning: 0.01
  critical: 0.1

# Runs that ran out of fuel / all runs; ignored below minRunsPerSec.
fuelExhaustionStorm:
  warning: 0.05
  critical: 0.25
  minRunsPerSec: 1

# Runs that trapped / all runs; ignored below minRunsPerSec.
trapStorm:
  warning: 0.05
  critical: 0.25
  minRunsPerSec: 1

# Points off the score for each mode at warning and at critical.
penalty:
  warning: 15
  critical: 40
`;

export interface ModeReport {
  mode: FailureMode;
  severity: Severity;
  /** The measured value the thresholds apply to. */
  value: number;
  warning: number;
  critical: number;
  detail: string;
}

export interface HealthReport {
  score: number;
  severity: Severity;
  modes: ModeReport[];
  signals: HealthSignals;
  /** Things the numbers cannot show, e.g. a metric that was absent. */
  notes: string[];
}

function grade(value: number, t: Threshold): Severity {
  if (value >= t.critical) return 'critical';
  if (value >= t.warning) return 'warning';
  return 'ok';
}

const round = (n: number, digits = 3) => Number(n.toFixed(digits));

export function evaluateHealth(signals: HealthSignals, config: HealthConfig = DEFAULT_HEALTH_CONFIG): HealthReport {
  const notes: string[] = [];
  const modes: ModeReport[] = [];
  const push = (mode: FailureMode, value: number, t: Threshold, detail: string, severity = grade(value, t)) =>
    modes.push({ mode, severity, value: round(value, 4), warning: t.warning, critical: t.critical, detail });

  push(
    'event-loop-starvation',
    signals.eventLoopDelayP99Ms,
    config.eventLoopStarvation,
    `event loop delay p99 ${round(signals.eventLoopDelayP99Ms, 1)} ms, utilization ${round(signals.eventLoopUtilization * 100, 1)}%`,
  );
  push(
    'worker-saturation',
    signals.workerUtilization,
    config.workerSaturation,
    `workers ${round(signals.workerUtilization * 100, 1)}% busy`,
  );

  const shed = signals.shedPerSec ?? 0;
  if (signals.shedPerSec === null)
    notes.push(
      'admission shedding: sandbox_admission_shed_total is absent (a swarm older than admission control, or no series yet); read as 0',
    );
  const shedRatio = shed + signals.runsPerSec > 0 ? shed / (shed + signals.runsPerSec) : 0;
  push(
    'admission-shedding',
    shedRatio,
    config.admissionShedding,
    `${round(shed, 2)} shed/s against ${round(signals.runsPerSec, 2)} runs/s`,
  );

  const storm = (mode: FailureMode, perSec: number, t: StormThreshold, what: string) => {
    const ratio = signals.runsPerSec > 0 ? perSec / signals.runsPerSec : 0;
    const quiet = signals.runsPerSec < t.minRunsPerSec;
    const detail = `${round(perSec, 2)} ${what}/s of ${round(signals.runsPerSec, 2)} runs/s (${round(ratio * 100, 1)}%)${quiet ? `; below ${t.minRunsPerSec} runs/s, not graded` : ''}`;
    push(mode, ratio, t, detail, quiet ? 'ok' : grade(ratio, t));
  };
  storm('fuel-exhaustion-storm', signals.outOfFuelPerSec, config.fuelExhaustionStorm, 'out-of-fuel');
  storm('trap-storm', signals.trapsPerSec, config.trapStorm, 'trap');

  const score = Math.max(
    0,
    100 -
      modes.reduce(
        (n, m) =>
          n +
          (m.severity === 'critical' ? config.penalty.critical : m.severity === 'warning' ? config.penalty.warning : 0),
        0,
      ),
  );
  const severity: Severity = modes.some((m) => m.severity === 'critical')
    ? 'critical'
    : modes.some((m) => m.severity === 'warning')
      ? 'warning'
      : 'ok';
  return { score, severity, modes, signals, notes };
}

function num(value: unknown, where: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `${where} must be a non-negative number, got ${JSON.stringify(value)}`,
    );
  return value;
}

function section(raw: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = raw[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw new SandboxError('SANDBOX_INVALID_OPTIONS', `${key} must be a mapping`);
  return v as Record<string, unknown>;
}

const KNOWN_KEYS = new Set([
  'windowSeconds',
  'sampleSeconds',
  'eventLoopStarvation',
  'workerSaturation',
  'admissionShedding',
  'fuelExhaustionStorm',
  'trapStorm',
  'penalty',
]);

/** Parses a thresholds file; missing keys take the defaults, unknown keys and bad values are errors. */
export function parseHealthConfig(text: string): HealthConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `the audit config is not valid YAML: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'the audit config must be a mapping');
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r))
    if (!KNOWN_KEYS.has(k)) throw new SandboxError('SANDBOX_INVALID_OPTIONS', `unknown key in the audit config: ${k}`);
  const d = DEFAULT_HEALTH_CONFIG;
  const threshold = (key: 'eventLoopStarvation' | 'workerSaturation' | 'admissionShedding'): Threshold => {
    const s = section(r, key);
    const t = {
      warning: num(s.warning, `${key}.warning`, d[key].warning),
      critical: num(s.critical, `${key}.critical`, d[key].critical),
    };
    if (t.warning > t.critical)
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `${key}.warning (${t.warning}) is above ${key}.critical (${t.critical})`,
      );
    return t;
  };
  const stormThreshold = (key: 'fuelExhaustionStorm' | 'trapStorm'): StormThreshold => {
    const s = section(r, key);
    const t = {
      warning: num(s.warning, `${key}.warning`, d[key].warning),
      critical: num(s.critical, `${key}.critical`, d[key].critical),
      minRunsPerSec: num(s.minRunsPerSec, `${key}.minRunsPerSec`, d[key].minRunsPerSec),
    };
    if (t.warning > t.critical)
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `${key}.warning (${t.warning}) is above ${key}.critical (${t.critical})`,
      );
    return t;
  };
  const p = section(r, 'penalty');
  const windowSeconds = num(r.windowSeconds, 'windowSeconds', d.windowSeconds);
  const sampleSeconds = num(r.sampleSeconds, 'sampleSeconds', d.sampleSeconds);
  if (windowSeconds < 1 || sampleSeconds <= 0)
    throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'windowSeconds must be at least 1 and sampleSeconds above 0');
  return {
    windowSeconds,
    sampleSeconds,
    eventLoopStarvation: threshold('eventLoopStarvation'),
    workerSaturation: threshold('workerSaturation'),
    admissionShedding: threshold('admissionShedding'),
    fuelExhaustionStorm: stormThreshold('fuelExhaustionStorm'),
    trapStorm: stormThreshold('trapStorm'),
    penalty: {
      warning: num(p.warning, 'penalty.warning', d.penalty.warning),
      critical: num(p.critical, 'penalty.critical', d.penalty.critical),
    },
  };
}
