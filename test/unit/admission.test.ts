// Admission for one agent on a fake clock: the inbox bound, holding for a due token, shedding a far one, the swarm bucket shared.
import { describe, expect, it } from 'vitest';
import { AgentAdmission, type AdmitDecision } from '../../runtime/swarm/admission.ts';
import { parseTopology } from '../../runtime/swarm/topology.ts';
import { TokenBucket } from '../../runtime/swarm/token-bucket.ts';

function rig() {
  let t = 0;
  const slept: number[] = [];
  const sleep = (ms: number): Promise<void> => {
    // The clock is the test's to move: concurrent waiters must see the same instant.
    slept.push(ms);
    return Promise.resolve();
  };
  return { now: () => t, sleep, slept, advance: (ms: number) => void (t += ms) };
}

const resolveNow = async (d: AdmitDecision | Promise<AdmitDecision>): Promise<AdmitDecision> => d;

describe('AgentAdmission', () => {
  it('never holds more than its inbox; a freed slot goes to the next waiter', async () => {
    const a = new AgentAdmission({ inbox: 3, maxWaitMs: 1000 });
    const first = [a.admit(true), a.admit(true), a.admit(true)];
    expect(first.every((d) => !(d instanceof Promise) && d.admitted)).toBe(true);
    let fourthIn = false;
    const fourth = Promise.resolve(a.admit(true)).then((d) => {
      fourthIn = d.admitted;
    });
    await Promise.resolve();
    expect(fourthIn).toBe(false);
    expect(a.counters.inbox).toBe(3);
    a.leave();
    await fourth;
    expect(fourthIn).toBe(true);
    expect(a.counters).toMatchObject({ inbox: 3, inboxPeak: 3, shed: 0 });
    a.leave();
    a.leave();
    a.leave();
    expect(a.counters.inbox).toBe(0);
  });

  it('holds a message until its token is due, and sheds one due later than maxWaitMs', async () => {
    const r = rig();
    const a = new AgentAdmission({
      inbox: 10,
      maxWaitMs: 150,
      agentBucket: new TokenBucket(10, 2, r.now),
      sleep: r.sleep,
    });
    expect(await resolveNow(a.admit(true))).toEqual({ admitted: true });
    expect(await resolveNow(a.admit(true))).toEqual({ admitted: true });
    expect(r.slept).toEqual([]);
    // The third token is 100 ms off: held.
    expect(await resolveNow(a.admit(true))).toEqual({ admitted: true });
    expect(r.slept).toHaveLength(1);
    expect(r.slept[0]).toBeCloseTo(100);
    r.advance(100);
    // Two more at once: the first is 100 ms off (held), the second 200 ms (shed with that delay).
    const held = a.admit(true);
    const shed = await resolveNow(a.admit(true));
    expect(shed).toEqual({ admitted: false, retryInMs: 200 });
    expect(await resolveNow(held)).toEqual({ admitted: true });
    expect(a.counters).toMatchObject({ inbox: 4, throttled: 2, shed: 1 });
    expect(a.counters.throttledMs).toBeCloseTo(200);
  });

  it('does not shed when told not to (the last delivery): it waits however long', async () => {
    const r = rig();
    const a = new AgentAdmission({
      inbox: 10,
      maxWaitMs: 10,
      agentBucket: new TokenBucket(1, 1, r.now),
      sleep: r.sleep,
    });
    await resolveNow(a.admit(true));
    expect(await resolveNow(a.admit(false))).toEqual({ admitted: true });
    expect(r.slept[0]).toBeCloseTo(1000);
    expect(a.counters.shed).toBe(0);
  });

  it('shares the swarm bucket between agents: their sum stays within it', async () => {
    const r = rig();
    const swarm = new TokenBucket(100, 4, r.now);
    const a = new AgentAdmission({ inbox: 100, maxWaitMs: 0.5, swarmBucket: swarm, sleep: r.sleep });
    const b = new AgentAdmission({ inbox: 100, maxWaitMs: 0.5, swarmBucket: swarm, sleep: r.sleep });
    let admitted = 0;
    for (let ms = 0; ms < 1000; ms++) {
      for (const x of [a, b, a, b]) {
        if ((await resolveNow(x.admit(true))).admitted) {
          admitted++;
          x.leave();
        }
      }
      r.advance(1);
    }
    // 4 (burst) + 100/s × 1 s, give or take the last token.
    expect(admitted).toBeGreaterThanOrEqual(103);
    expect(admitted).toBeLessThanOrEqual(105);
    expect(a.counters.shed + b.counters.shed).toBe(4000 - admitted);
  });
});

describe('admission and escalation in the topology', () => {
  const AGENT = `agents:
  - name: a
    module: a.wasm
    subscribe: in.>
`;

  it('reads per-agent rate, burst, inbox and the swarm admission and escalation maps', () => {
    const t = parseTopology(
      `admission: { rate: 500, burst: 50, maxWaitMs: 200 }
escalation: { redis: "redis://127.0.0.1:6379", window: 60000, threshold: 5, cooldown: 30000, prefix: prod }
agents:
  - name: a
    module: a.wasm
    subscribe: in.>
    rate: 2.5
    burst: 10
    inbox: 64
`,
      { baseDir: '/base' },
    );
    expect(t.admission).toEqual({ rate: 500, burst: 50, maxWaitMs: 200 });
    expect(t.escalation).toEqual({
      redis: 'redis://127.0.0.1:6379',
      window: 60000,
      threshold: 5,
      cooldown: 30000,
      prefix: 'prod',
    });
    expect(t.agents[0]).toMatchObject({ rate: 2.5, burst: 10, inbox: 64 });
  });

  it('leaves them out when absent (no limits: the dispatcher behaves as before)', () => {
    const t = parseTopology(AGENT, { baseDir: '/base' });
    expect('admission' in t || 'escalation' in t).toBe(false);
    expect(Object.keys(t.agents[0]!)).not.toContain('rate');
  });

  it('names every bad field', () => {
    let message = '';
    try {
      parseTopology(
        `admission: { burst: 0.5, rat: 3 }
escalation: { window: 0, threshold: 2, redis: "http://x" }
agents:
  - name: a
    module: a.wasm
    subscribe: in.>
    rate: -1
    burst: 4
    inbox: 0
`,
        { source: 't.yaml', baseDir: '/base' },
      );
    } catch (error) {
      message = (error as Error).message;
    }
    for (const expected of [
      /admission\.rat \(line 1\): unknown key/,
      /admission \(line 1\): rate is required/,
      /admission\.burst \(line 1\): at least 1/,
      /escalation\.window \(line 2\): expected an integer ≥ 1/,
      /escalation \(line 2\): cooldown is required/,
      /escalation\.redis \(line 2\): expected redis:\/\/host:port/,
      /agents\[0\] \(a\)\.rate \(line 7\): expected a positive number/,
      /agents\[0\] \(a\)\.burst \(line 8\): needs a rate/,
      /agents\[0\] \(a\)\.inbox \(line 9\): expected an integer ≥ 1/,
    ]) {
      expect(message).toMatch(expected);
    }
  });
});
