// The AssemblyScript agent `planner`: tasks into the graph service through sandbox.graph, topological order or a cycle out.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { GraphClient } from '../../runtime/exports/graph.ts';
import type { Agent, RunResult } from '../../runtime/index.ts';
import { ENGINES, ISOLATIONS, sandboxPerBlock } from '../support/engines.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const plannerWasm = resolve(repoRoot, 'agents', 'build', 'planner.wasm');

interface Task {
  id: string;
  deps?: string[];
}

/** Checks that `order` holds every id once and puts each dependency before the task that needs it. */
function expectTopological(order: string[], tasks: Task[]): void {
  const ids = new Set(tasks.flatMap((t) => [t.id, ...(t.deps ?? [])]));
  expect(new Set(order).size).toBe(order.length);
  expect([...order].sort()).toEqual([...ids].sort());
  const at = new Map(order.map((id, i) => [id, i]));
  for (const t of tasks)
    for (const d of t.deps ?? []) expect(at.get(d)!, `${d} before ${t.id}`).toBeLessThan(at.get(t.id)!);
}

/** Checks that `cycle` is a cycle of the tasks' edges (dep → task), in edge direction, closing back on its first node. */
function expectCycle(cycle: string[], tasks: Task[]): void {
  const edges = new Set(tasks.flatMap((t) => (t.deps ?? []).map((d) => `${d}->${t.id}`)));
  expect(cycle.length).toBeGreaterThan(0);
  for (let i = 0; i < cycle.length; i++) expect(edges.has(`${cycle[i]}->${cycle[(i + 1) % cycle.length]}`)).toBe(true);
}

// The graph capability needs a worker (a graph request blocks the agent's thread): these run in worker isolation only.
describe.each(ENGINES)('assemblyscript agent: planner (%s)', (engine) => {
  const sandbox = sandboxPerBlock(engine, { graph: 'embedded' });
  let agent: Agent;

  beforeAll(async () => {
    agent = await sandbox().load(plannerWasm, { limits: { timeoutMs: 20_000 }, graph: true });
  });

  async function plan(input: unknown): Promise<RunResult> {
    const r = await agent.run(input);
    expect(r.status, r.message).toBe('ok');
    return r;
  }

  it('orders a chain given out of order', async () => {
    const tasks: Task[] = [
      { id: 'deploy', deps: ['test'] },
      { id: 'build', deps: ['fetch'] },
      { id: 'test', deps: ['build'] },
      { id: 'fetch', deps: [] },
    ];
    const r = await plan({ tasks });
    expect(r.output).toEqual({ order: ['fetch', 'build', 'test', 'deploy'] });
  });

  it('gives a valid order for a diamond, with repeated and not-listed dependencies', async () => {
    const tasks: Task[] = [
      { id: 'd', deps: ['b', 'c'] },
      { id: 'b', deps: ['a'] },
      { id: 'c', deps: ['a', 'a'] },
      { id: 'a', deps: ['root'] },
      { id: 'lone' },
    ];
    const r = await plan({ tasks });
    const { order } = r.output as { order: string[] };
    expectTopological(order, tasks);
    expect(order).toContain('root');
  });

  it('answers {cycle} with the nodes of the cycle', async () => {
    const tasks: Task[] = [
      { id: 'x', deps: ['z'] },
      { id: 'y', deps: ['x'] },
      { id: 'z', deps: ['y'] },
      { id: 'w', deps: [] },
      { id: 'v', deps: ['w'] },
    ];
    const r = await plan({ tasks });
    expect(r.output).not.toHaveProperty('order');
    const { cycle } = r.output as { cycle: string[] };
    expect([...cycle].sort()).toEqual(['x', 'y', 'z']);
    expectCycle(cycle, tasks);
  });

  it('reports a self-dependency as a cycle of one', async () => {
    const r = await plan({ tasks: [{ id: 'self', deps: ['self'] }, { id: 'other' }] });
    expect(r.output).toEqual({ cycle: ['self'] });
  });

  it('replaces the previous plan: a run sees only its own tasks', async () => {
    await plan({ tasks: [{ id: 'old1' }, { id: 'old2', deps: ['old1'] }] });
    const r = await plan({ tasks: [{ id: 'new', deps: [] }] });
    expect(r.output).toEqual({ order: ['new'] });
  });

  it('keeps namespaces apart, and a namespace re-run replaces only its own nodes', async () => {
    const a1 = await plan({ graph: 'alpha', tasks: [{ id: 'b', deps: ['a'] }, { id: 'a' }] });
    expect(a1.output).toEqual({ order: ['a', 'b'] });
    const b = await plan({ graph: 'beta', tasks: [{ id: 'a', deps: ['b'] }, { id: 'b' }] });
    expect(b.output).toEqual({ order: ['b', 'a'] });
    const a2 = await plan({ graph: 'alpha', tasks: [{ id: 'c', deps: ['b'] }, { id: 'b' }] });
    expect(a2.output).toEqual({ order: ['b', 'c'] });
    // beta's nodes survived alpha's re-run.
    const b2 = await plan({ graph: 'beta', tasks: [{ id: 'a', deps: ['b'] }, { id: 'b' }] });
    expect(b2.output).toEqual({ order: ['b', 'a'] });
  });

  it('answers an empty order for no tasks', async () => {
    const r = await plan({ tasks: [] });
    expect(r.output).toEqual({ order: [] });
  });

  it.each([
    ['not a map', 'tasks', /input is not a map/],
    ['tasks missing', {}, /`tasks` must be an array/],
    ['tasks not an array', { tasks: { id: 'a' } }, /`tasks` must be an array/],
    ['a task without id', { tasks: [{ deps: [] }] }, /tasks\[0\]\.id/],
    ['an empty id', { tasks: [{ id: '' }] }, /tasks\[0\]\.id/],
    ['a duplicate id', { tasks: [{ id: 'a' }, { id: 'a' }] }, /appears twice/],
    ['deps not an array', { tasks: [{ id: 'a', deps: 'b' }] }, /tasks\[0\]\.deps/],
    ['a dep not a string', { tasks: [{ id: 'a' }, { id: 'b', deps: ['a', 7] }] }, /tasks\[1\]\.deps\[1\]/],
    ['a namespace with the separator', { graph: 'a:b', tasks: [] }, /`graph`/],
    ['a namespace not a string', { graph: 1, tasks: [] }, /`graph`/],
  ])('refuses %s', async (_name, input, message) => {
    const r = await agent.run(input);
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(1);
    expect(r.message).toMatch(message);
  });
});

describe('assemblyscript agent: planner against a GraphClient', () => {
  let client: GraphClient;
  let sandbox: Sandbox;

  beforeAll(() => {
    client = GraphClient.embedded();
    sandbox = new Sandbox({ workers: 1, graph: client });
  });

  afterAll(async () => {
    await sandbox?.close();
    await client?.close();
  });

  it('leaves the tasks and dependency edges in the caller-owned graph, namespaced', async () => {
    await client.request('addNode', { key: 'foreign' });
    // The client's own ('default') namespace, granted explicitly: agents get one of their own otherwise.
    const agent = await sandbox.load(plannerWasm, { graph: { namespace: 'default' } });
    const r = await agent.run({ graph: 'ci', tasks: [{ id: 'test', deps: ['build'] }, { id: 'build' }] });
    expect(r.status, r.message).toBe('ok');
    expect(r.output).toEqual({ order: ['build', 'test'] });
    expect((await client.request<string[]>('nodes')).sort()).toEqual(['ci:build', 'ci:test', 'foreign']);
    expect(await client.request('hasEdge', { source: 'ci:build', target: 'ci:test' })).toBe(true);
  });

  it('refuses to judge a plan when another namespace holds a cycle', async () => {
    await client.request('apply', {
      ops: [
        { op: 'addNode', key: 'loop1' },
        { op: 'addNode', key: 'loop2' },
        { op: 'addEdge', source: 'loop1', target: 'loop2' },
        { op: 'addEdge', source: 'loop2', target: 'loop1' },
      ],
    });
    const agent = await sandbox.load(plannerWasm, { graph: { namespace: 'default' } });
    const r = await agent.run({ graph: 'ci', tasks: [{ id: 'x' }] });
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(3);
    expect(r.message).toMatch(/cycle outside/);
  });
});

// Without a graph service the import answers E_UNAVAILABLE in either isolation (with one, inline is refused: test/conformance/isolation.test.ts).
describe.each(ISOLATIONS)('assemblyscript agent: planner without a graph service (%s)', (isolation) => {
  let sandbox: Sandbox;

  beforeAll(() => {
    sandbox = new Sandbox({ workers: 1, isolation });
  });

  afterAll(async () => {
    await sandbox?.close();
  });

  it('fails with a message naming the graph service', async () => {
    const agent = await sandbox.load(plannerWasm);
    const r = await agent.run({ tasks: [{ id: 'a' }] });
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(2);
    expect(r.message).toMatch(/graph service/);
  });
});
