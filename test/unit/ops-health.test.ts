// Health score and failure modes: thresholds, storms below their minimum rate, absent metrics, config parsing.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_HEALTH_CONFIG,
  evaluateHealth,
  HEALTH_CONFIG_TEMPLATE,
  parseHealthConfig,
  type HealthSignals,
} from '../../runtime/ops/health.ts';
import { isSandboxError } from '../../runtime/errors.ts';

const calm: HealthSignals = {
  eventLoopDelayP99Ms: 5,
  eventLoopUtilization: 0.2,
  workerUtilization: 0.3,
  runsPerSec: 500,
  outOfFuelPerSec: 0,
  trapsPerSec: 1,
  shedPerSec: 0,
};

const severities = (s: HealthSignals) => Object.fromEntries(evaluateHealth(s).modes.map((m) => [m.mode, m.severity]));

describe('evaluateHealth', () => {
  it('scores a calm swarm 100 with every mode ok', () => {
    const r = evaluateHealth(calm);
    expect(r.score).toBe(100);
    expect(r.severity).toBe('ok');
    expect(r.modes.map((m) => m.mode)).toEqual([
      'event-loop-starvation',
      'worker-saturation',
      'admission-shedding',
      'fuel-exhaustion-storm',
      'trap-storm',
    ]);
    expect(r.notes).toEqual([]);
  });

  it('grades each mode at its warning and critical thresholds', () => {
    expect(severities({ ...calm, eventLoopDelayP99Ms: 50 })['event-loop-starvation']).toBe('warning');
    expect(severities({ ...calm, eventLoopDelayP99Ms: 199 })['event-loop-starvation']).toBe('warning');
    expect(severities({ ...calm, eventLoopDelayP99Ms: 200 })['event-loop-starvation']).toBe('critical');
    expect(severities({ ...calm, workerUtilization: 0.85 })['worker-saturation']).toBe('warning');
    expect(severities({ ...calm, workerUtilization: 1.02 })['worker-saturation']).toBe('critical');
    expect(severities({ ...calm, shedPerSec: 10 })['admission-shedding']).toBe('warning'); // 10 / 510
    expect(severities({ ...calm, shedPerSec: 100 })['admission-shedding']).toBe('critical');
    expect(severities({ ...calm, outOfFuelPerSec: 30 })['fuel-exhaustion-storm']).toBe('warning');
    expect(severities({ ...calm, outOfFuelPerSec: 200 })['fuel-exhaustion-storm']).toBe('critical');
    expect(severities({ ...calm, trapsPerSec: 499 })['trap-storm']).toBe('critical');
  });

  it('takes the configured penalty per mode off the score', () => {
    const r = evaluateHealth({ ...calm, workerUtilization: 0.99, trapsPerSec: 40, eventLoopDelayP99Ms: 60 });
    expect(r.severity).toBe('critical');
    expect(r.score).toBe(100 - 40 - 15 - 15);
    const all = evaluateHealth({
      ...calm,
      eventLoopDelayP99Ms: 1000,
      workerUtilization: 2,
      shedPerSec: 1e6,
      outOfFuelPerSec: 400,
      trapsPerSec: 100,
    });
    expect(all.score).toBe(0);
  });

  it('does not call a storm below minRunsPerSec', () => {
    const quiet = { ...calm, runsPerSec: 0.5, trapsPerSec: 0.5, outOfFuelPerSec: 0.5 };
    const r = evaluateHealth(quiet);
    expect(r.modes.find((m) => m.mode === 'trap-storm')).toMatchObject({ severity: 'ok', value: 1 });
    expect(r.modes.find((m) => m.mode === 'trap-storm')!.detail).toMatch(/not graded/);
  });

  it('reads an absent shedding metric as 0 and says so', () => {
    const r = evaluateHealth({ ...calm, shedPerSec: null });
    expect(r.modes.find((m) => m.mode === 'admission-shedding')!.severity).toBe('ok');
    expect(r.notes.join()).toMatch(/sandbox_admission_shed_total is absent/);
  });
});

describe('parseHealthConfig', () => {
  it('the --init template parses to the defaults', () => {
    expect(parseHealthConfig(HEALTH_CONFIG_TEMPLATE)).toEqual(DEFAULT_HEALTH_CONFIG);
    expect(parseHealthConfig('')).toEqual(DEFAULT_HEALTH_CONFIG);
  });

  it('overrides what it names and applies it', () => {
    const c = parseHealthConfig('workerSaturation:\n  warning: 0.1\n  critical: 0.2\npenalty: {critical: 100}\n');
    expect(c.workerSaturation).toEqual({ warning: 0.1, critical: 0.2 });
    expect(c.trapStorm).toEqual(DEFAULT_HEALTH_CONFIG.trapStorm);
    const r = evaluateHealth(calm, c);
    expect(r.modes.find((m) => m.mode === 'worker-saturation')!.severity).toBe('critical');
    expect(r.score).toBe(0);
  });

  it('rejects unknown keys, bad values and inverted thresholds with SANDBOX_INVALID_OPTIONS', () => {
    for (const text of [
      'bogus: 1',
      'trapStorm: {warning: -1}',
      'trapStorm: {warning: "x"}',
      'eventLoopStarvation: {warning: 300, critical: 200}',
      'workerSaturation: [1]',
      '- 1',
      'a: [',
    ]) {
      let error: unknown;
      try {
        parseHealthConfig(text);
      } catch (e) {
        error = e;
      }
      expect(isSandboxError(error, 'SANDBOX_INVALID_OPTIONS'), text).toBe(true);
    }
  });
});
