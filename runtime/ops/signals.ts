// Gathers HealthSignals from a /metrics endpoint (two scrapes) or from a Prometheus server (PromQL over HTTP).
import { SandboxError } from '../errors.ts';
import type { HealthSignals } from './health.ts';
import { parsePrometheusText, sumSamples, type Sample } from './prom-text.ts';

async function fetchText(url: string, what: string, timeoutMs: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new SandboxError(
      'SANDBOX_CONNECTION',
      `cannot reach ${what} at ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      { cause: error },
    );
  }
  const body = await res.text();
  if (!res.ok)
    throw new SandboxError(
      'SANDBOX_CONNECTION',
      `${what} at ${url} answered HTTP ${res.status}: ${body.slice(0, 200)}`,
    );
  return body;
}

export async function scrape(url: string, timeoutMs = 5000): Promise<Sample[]> {
  const samples = parsePrometheusText(await fetchText(url, 'the metrics endpoint', timeoutMs));
  if (sumSamples(samples, 'sandbox_workers') === null) {
    throw new SandboxError(
      'SANDBOX_PROTOCOL',
      `${url} serves metrics but no sandbox_* series: is it a \`sandbox serve --metrics-port\` endpoint?`,
    );
  }
  return samples;
}

/** Signals from two scrapes `seconds` apart: counters become rates over the gap, gauges take the worse value. */
export function signalsFromScrapes(
  before: readonly Sample[],
  after: readonly Sample[],
  seconds: number,
): HealthSignals {
  const rate = (name: string, match?: Record<string, string>): number | null => {
    const b = sumSamples(before, name, match);
    const a = sumSamples(after, name, match);
    if (a === null) return null;
    // A counter that went down means the process restarted between scrapes: count from zero.
    const delta = b === null || a < b ? a : a - b;
    return delta / seconds;
  };
  const gaugeMax = (name: string) => Math.max(sumSamples(before, name) ?? 0, sumSamples(after, name) ?? 0);
  const workers = sumSamples(after, 'sandbox_workers') ?? 0;
  const busy = rate('sandbox_run_duration_seconds_sum') ?? 0;
  return {
    eventLoopDelayP99Ms: gaugeMax('sandbox_event_loop_delay_p99_seconds') * 1000,
    eventLoopUtilization: gaugeMax('sandbox_event_loop_utilization'),
    workerUtilization: workers > 0 ? busy / workers : 0,
    runsPerSec: rate('sandbox_runs_total') ?? 0,
    outOfFuelPerSec: rate('sandbox_runs_total', { status: 'out-of-fuel' }) ?? 0,
    trapsPerSec: rate('sandbox_runs_total', { status: 'trap' }) ?? 0,
    shedPerSec: rate('sandbox_admission_shed_total'),
  };
}

export async function signalsFromEndpoint(url: string, seconds: number, signal?: AbortSignal): Promise<HealthSignals> {
  const before = await scrape(url);
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, seconds * 1000);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
  const after = await scrape(url);
  return signalsFromScrapes(before, after, (performance.now() - started) / 1000);
}

interface PromResponse {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

/** Runs an instant PromQL query; the sum of the result vector, or null when it is empty. */
export async function promQuery(target: string, query: string, timeoutMs = 5000): Promise<number | null> {
  const url = `${target.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  const body = await fetchText(url, 'Prometheus', timeoutMs);
  let parsed: PromResponse;
  try {
    parsed = JSON.parse(body) as PromResponse;
  } catch (error) {
    throw new SandboxError('SANDBOX_PROTOCOL', `${target} is not a Prometheus API (the answer is not JSON)`, {
      cause: error,
    });
  }
  if (parsed.status !== 'success' || parsed.data === undefined)
    throw new SandboxError('SANDBOX_PROTOCOL', `Prometheus rejected ${query}: ${parsed.error ?? 'no data'}`);
  if (parsed.data.result.length === 0) return null;
  return parsed.data.result.reduce((n, r) => n + Number(r.value[1]), 0);
}

/**
 * `match` is label matchers (`job="swarm-a",instance=~".*:9464"`) added to every selector, for a Prometheus
 * that scrapes more than one swarm.
 */
export async function signalsFromPrometheus(target: string, windowSeconds: number, match = ''): Promise<HealthSignals> {
  const w = `${Math.round(windowSeconds)}s`;
  const q = (query: string) => promQuery(target, query);
  const sel = (name: string, extra = '') => `${name}{${[extra, match].filter((x) => x.length > 0).join(',')}}`;
  const workers = await q(`sum(${sel('sandbox_workers')})`);
  if (workers === null)
    throw new SandboxError(
      'SANDBOX_PROTOCOL',
      `Prometheus at ${target} has no sandbox_workers series${match ? ` matching {${match}}` : ''}: is it scraping a \`sandbox serve --metrics-port\` endpoint?`,
    );
  const [delay, elu, busy, runs, fuel, traps, shed] = await Promise.all([
    q(`max(max_over_time(${sel('sandbox_event_loop_delay_p99_seconds')}[${w}]))`),
    q(`max(max_over_time(${sel('sandbox_event_loop_utilization')}[${w}]))`),
    q(`sum(rate(${sel('sandbox_run_duration_seconds_sum')}[${w}]))`),
    q(`sum(rate(${sel('sandbox_runs_total')}[${w}]))`),
    q(`sum(rate(${sel('sandbox_runs_total', 'status="out-of-fuel"')}[${w}]))`),
    q(`sum(rate(${sel('sandbox_runs_total', 'status="trap"')}[${w}]))`),
    q(`sum(rate(${sel('sandbox_admission_shed_total')}[${w}]))`),
  ]);
  return {
    eventLoopDelayP99Ms: (delay ?? 0) * 1000,
    eventLoopUtilization: elu ?? 0,
    workerUtilization: workers > 0 ? (busy ?? 0) / workers : 0,
    runsPerSec: runs ?? 0,
    outOfFuelPerSec: fuel ?? 0,
    trapsPerSec: traps ?? 0,
    shedPerSec: shed,
  };
}
