// Defect 3 of issue 12: an agent's long graph call must not stall the host's event loop or other agents' timeouts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { fixturePath, requireBuilt } from '../support/paths.ts';

/**
 * A complete 5-partite graph (every node linked both ways to every node of the other parts) holds many 5-cliques
 * and no 6-clique, so looking for a 6-clique explores millions of partial matches and finds none.
 */
function turanOps(parts: number, perPart: number): unknown[] {
  const ops: unknown[] = [];
  const key = (p: number, i: number) => `${p}.${i}`;
  for (let p = 0; p < parts; p++) for (let i = 0; i < perPart; i++) ops.push({ op: 'addNode', key: key(p, i) });
  for (let p = 0; p < parts; p++)
    for (let i = 0; i < perPart; i++)
      for (let q = 0; q < parts; q++)
        if (q !== p)
          for (let j = 0; j < perPart; j++) ops.push({ op: 'addEdge', source: key(p, i), target: key(q, j) });
  return ops;
}

function clique(n: number) {
  const nodes = Array.from({ length: n }, (_, i) => ({ key: `c${i}` }));
  const edges = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) edges.push({ source: `c${i}`, target: `c${j}` });
  return { nodes, edges };
}

/**
 * The longest the event loop went without running a 10 ms interval timer, past its 10 ms. (perf_hooks'
 * monitorEventLoopDelay did not record a 3.6 s synchronous block here, so the test measures it itself.)
 */
function watchEventLoop(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 10);
    last = now;
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(worst, performance.now() - last - 10);
    },
  };
}

describe('a long graph call runs off the host thread', () => {
  let sandbox: Sandbox;

  beforeAll(() => {
    sandbox = new Sandbox({ workers: 2, graph: 'embedded' });
  });

  afterAll(async () => {
    await sandbox.close();
  });

  // Retried: the machine's own scheduling spikes (load ~20 on 2 cores) are not the host's doing.
  it(
    "keeps the event loop responsive and another agent's 2 s timeout on time",
    { timeout: 30_000, retry: 2 },
    async () => {
      const searcher = await sandbox.load(requireBuilt(fixturePath('graph-call')), {
        graph: true,
        limits: { timeoutMs: 4_000 },
      });
      const built = await searcher.run({ method: 'apply', params: { ops: turanOps(5, 24) } });
      expect(built.status, built.message).toBe('ok');
      expect((built.output as { error?: unknown }).error).toBeUndefined();

      // Loaded first (on the other worker), so the clock below times the run alone, not a worker's start.
      const looper = await sandbox.load(requireBuilt(fixturePath('loop-forever')), {
        limits: { fuel: 0, timeoutMs: 2_000 },
      });

      const watch = watchEventLoop();
      // The guest asks for a budget far past what it may have: the service caps the steps, the run caps the time.
      const search = searcher.run({ method: 'subgraphMatch', params: { pattern: clique(6), maxSteps: 1e15 } });
      // The other agent's run is due 200 ms later; its clock starts then, even if the host only gets to it later.
      const due = performance.now() + 200;
      await new Promise((r) => setTimeout(r, 200));
      const looping = await looper.run(null);
      const loopElapsed = performance.now() - due;
      const searched = await search;
      const delayMs = watch.stop();

      // Afterwards, what the event loop suffers from as many busy threads without a graph call (two spinning agents;
      // this machine has 2 cores shared with other jobs): the graph call must add less than 100 ms to that.
      // Before the fix it added the whole call, seconds.
      const spinner = await sandbox.load(requireBuilt(fixturePath('loop-forever')), {
        limits: { fuel: 0, timeoutMs: 1_000 },
      });
      const spinner2 = await sandbox.load(requireBuilt(fixturePath('loop-forever')), {
        limits: { fuel: 0, timeoutMs: 1_000 },
      });
      const idle = watchEventLoop();
      await Promise.all([spinner.run(null), spinner2.run(null)]);
      const baselineMs = idle.stop();
      spinner.close();
      spinner2.close();

      expect(looping.status).toBe('timeout');
      expect(loopElapsed).toBeLessThan(2_500);
      expect(delayMs).toBeLessThan(100 + baselineMs);
      // The search stopped within its run's time (its deadline is 90% of what the run had left), and the guest got the answer.
      expect(searched.status, searched.message).toBe('ok');
      const result = (searched.output as { result?: { stoppedBy: string; matches: unknown[] } }).result;
      expect(result?.matches, JSON.stringify(searched.output).slice(0, 300)).toEqual([]);
      expect(['steps', 'deadline']).toContain(result?.stoppedBy);
      console.log(
        `loop timed out after ${loopElapsed.toFixed(0)} ms; event-loop delay max ${delayMs.toFixed(1)} ms (two spinning agents, no graph call: ${baselineMs.toFixed(1)} ms); search: ${searched.status} after ${searched.durationMs.toFixed(0)} ms`,
      );
      searcher.close();
      looper.close();
    },
  );
});
