// The Prometheus text-format parser and the two-scrape signal computation.
import { describe, expect, it } from 'vitest';
import { isSandboxError } from '../../runtime/errors.ts';
import { parsePrometheusText, sumSamples } from '../../runtime/ops/prom-text.ts';
import { signalsFromScrapes } from '../../runtime/ops/signals.ts';

const TEXT = `# HELP sandbox_runs_total Agent runs by agent and status
# TYPE sandbox_runs_total counter
sandbox_runs_total{agent="triage",status="ok"} 90
sandbox_runs_total{agent="triage",status="trap"} 10
sandbox_runs_total{agent="odd \\"name\\", with\\\\ escapes",status="out-of-fuel"} 5 1700000000000
# TYPE sandbox_run_duration_seconds histogram
sandbox_run_duration_seconds_bucket{le="+Inf",agent="triage"} 100
sandbox_run_duration_seconds_sum{agent="triage"} 2.5e-1
sandbox_workers 2
sandbox_event_loop_delay_p99_seconds 0.012
process_start_time_seconds NaN
nodejs_eventloop_lag_seconds Nan
`;

describe('parsePrometheusText', () => {
  it('reads names, escaped labels, exponents, special values and timestamps', () => {
    const s = parsePrometheusText(TEXT);
    expect(s).toHaveLength(9);
    expect(s[2]).toEqual({
      name: 'sandbox_runs_total',
      labels: { agent: 'odd "name", with\\ escapes', status: 'out-of-fuel' },
      value: 5,
    });
    expect(s[3]!.labels.le).toBe('+Inf');
    expect(s[4]!.value).toBe(0.25);
    expect(Number.isNaN(s[7]!.value)).toBe(true);
    expect(Number.isNaN(s[8]!.value)).toBe(true); // prom-client's spelling
    expect(sumSamples(s, 'sandbox_runs_total')).toBe(105);
    expect(sumSamples(s, 'sandbox_runs_total', { status: 'trap' })).toBe(10);
    expect(sumSamples(s, 'sandbox_runs_total', { status: 'timeout' })).toBe(0);
    expect(sumSamples(s, 'sandbox_admission_shed_total')).toBeNull();
  });

  it('rejects malformed lines with SANDBOX_PROTOCOL', () => {
    for (const bad of ['{a="b"} 1', 'x{a=b} 1', 'x{a="b} 1', 'x abc', 'x']) {
      let error: unknown;
      try {
        parsePrometheusText(bad);
      } catch (e) {
        error = e;
      }
      expect(isSandboxError(error, 'SANDBOX_PROTOCOL'), bad).toBe(true);
    }
  });
});

describe('signalsFromScrapes', () => {
  it('turns counters into rates over the gap and reads gauges at their worst', () => {
    const before = parsePrometheusText(TEXT);
    const after = parsePrometheusText(
      TEXT.replace('status="ok"} 90', 'status="ok"} 190')
        .replace('status="trap"} 10', 'status="trap"} 110')
        .replace('_sum{agent="triage"} 2.5e-1', '_sum{agent="triage"} 3.85')
        .replace('p99_seconds 0.012', 'p99_seconds 0.3'),
    );
    const s = signalsFromScrapes(before, after, 2);
    expect(s.runsPerSec).toBe(100);
    expect(s.trapsPerSec).toBe(50);
    expect(s.outOfFuelPerSec).toBe(0);
    expect(s.workerUtilization).toBeCloseTo(0.9);
    expect(s.eventLoopDelayP99Ms).toBeCloseTo(300);
    expect(s.shedPerSec).toBeNull();
  });

  it('counts from zero when a counter went down (the process restarted)', () => {
    const before = parsePrometheusText('sandbox_workers 1\nsandbox_runs_total{status="ok"} 1000\n');
    const after = parsePrometheusText('sandbox_workers 1\nsandbox_runs_total{status="ok"} 10\n');
    expect(signalsFromScrapes(before, after, 1).runsPerSec).toBe(10);
  });
});
