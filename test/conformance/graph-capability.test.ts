// The graph capability: default-deny, method allowlist, a namespace per agent, parse only inside granted dirs, byte caps.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveGrants } from '../../runtime/capabilities/grants.ts';
import { GRAPH_DATA_METHODS } from '../../runtime/capabilities/graph.ts';
import { encode, Sandbox, SandboxError, type Agent, type LoadOptions, type RunResult } from '../../runtime/index.ts';
import { fixturePath, repoRoot, requireBuilt } from '../support/paths.ts';

const graphCall = requireBuilt(fixturePath('graph-call'));

type Reply = { result?: unknown; error?: { code: string; message: string } };

async function call(agent: Agent, method: string, params: Record<string, unknown> = {}): Promise<Reply> {
  const r: RunResult = await agent.run({ method, params });
  expect(r.status, r.message).toBe('ok');
  return r.output as Reply;
}

describe('graph capability (embedded engine)', () => {
  let sandbox: Sandbox;
  let dir: string;
  const load = (options: LoadOptions = {}) => sandbox.load(graphCall, options);

  beforeAll(() => {
    sandbox = new Sandbox({ workers: 1, graph: 'embedded' });
    dir = mkdtempSync(join(tmpdir(), 'graph-grant-'));
    mkdirSync(join(dir, 'repo'));
    writeFileSync(join(dir, 'repo', 'inside.ts'), 'import { a } from "./a";\nexport function f() { return a; }\n');
    writeFileSync(join(dir, 'secret.ts'), 'export function hostSecret() {}\n');
    symlinkSync(join(dir, 'secret.ts'), join(dir, 'repo', 'link.ts'));
  });

  afterAll(async () => {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers GRAPH_NOT_GRANTED to an agent loaded without a grant (a readable error, not a trap)', async () => {
    const agent = await load();
    expect((await call(agent, 'ping')).error?.code).toBe('GRAPH_NOT_GRANTED');
    agent.close();
  });

  it('defect 1: parseFile of a host file is refused with a data-only grant, and without any grant', async () => {
    const hostFile = join(repoRoot, 'runtime', 'sandbox.ts');
    for (const options of [{}, { graph: true as const }]) {
      const agent = await load(options);
      const parsed = await call(agent, 'parseFile', { path: hostFile });
      expect(parsed.error?.code).toBe('GRAPH_NOT_GRANTED');
      expect(parsed.result).toBeUndefined();
      expect((await call(agent, 'parseRepository', { root: repoRoot })).error?.code).toBe('GRAPH_NOT_GRANTED');
      agent.close();
    }
  });

  it('parses only inside the granted dirs: no absolute path, `..` or symlink leads out', async () => {
    // The first parse loads tree-sitter and its grammars: seconds on a busy machine.
    const agent = await load({ graph: { parse: { dirs: [join(dir, 'repo')] } }, limits: { timeoutMs: 30_000 } });
    const inside = await call(agent, 'parseFile', { path: 'inside.ts' });
    expect(inside.error).toBeUndefined();
    expect(JSON.stringify(inside.result)).toContain('inside.ts');
    expect((await call(agent, 'parseRepository', { root: '.' })).error).toBeUndefined();
    for (const path of [join(dir, 'secret.ts'), '../secret.ts', 'link.ts', join(repoRoot, 'runtime', 'sandbox.ts')]) {
      expect((await call(agent, 'parseFile', { path })).error?.code, path).toBe('GRAPH_NOT_GRANTED');
    }
    expect((await call(agent, 'parseRepository', { root: '..' })).error?.code).toBe('GRAPH_NOT_GRANTED');
    agent.close();
  });

  it('defect 5: agent B cannot see, export or clear agent A’s namespace', async () => {
    const a = await load({ graph: true });
    const b = await load({ graph: true });
    expect((await call(a, 'addNode', { key: 'a-secret' })).error).toBeUndefined();
    expect((await call(b, 'nodes')).result).toEqual([]);
    expect((await call(b, 'export')).result).toMatchObject({ nodes: [] });
    expect((await call(b, 'clear')).error).toBeUndefined();
    expect((await call(a, 'nodes')).result).toEqual(['a-secret']);
    a.close();
    b.close();
  });

  it('ignores a namespace or deadline the guest writes into its request', async () => {
    const owner = await load({ graph: { namespace: 'owned' } });
    const other = await load({ graph: true });
    await call(owner, 'addNode', { key: 'private' });
    const r = await other.run({
      method: 'nodes',
      params: { ns: 'owned', namespace: 'owned' },
      ns: 'owned',
      timeoutMs: 1e9,
    });
    expect(r.output).toEqual({ result: [] });
    owner.close();
    other.close();
  });

  it('survives a request nested too deeply to pass to the engine (it crashed the host process)', async () => {
    const agent = await load({ graph: true });
    // {method: 'addNode', params: {key: 'k', attributes: {x: [[[…null…]]]}}}, 3000 levels, as raw MessagePack.
    const head = encode({ method: 'addNode', params: { key: 'k', attributes: { x: 0 } } });
    const deep = new Uint8Array(head.length - 1 + 3001);
    deep.set(head.subarray(0, head.length - 1));
    deep.fill(0x91, head.length - 1, head.length - 1 + 3000);
    deep[deep.length - 1] = 0xc0;
    const r = await agent.runEncoded(deep);
    // Whether this stack can clone it or not, the call is answered and the host lives on.
    expect(r.status, r.message).toBe('ok');
    const reply = r.output as Reply;
    if (reply.error !== undefined) expect(reply.error.code).toMatch(/^GRAPH_/);
    expect((await call(agent, 'ping')).result).toMatchObject({ pong: true });
    agent.close();
  });

  it('shares a namespace only when both grants name it', async () => {
    const a = await load({ graph: { namespace: 'team' } });
    const b = await load({ graph: { namespace: 'team' } });
    const c = await load({ graph: true });
    await call(a, 'addNode', { key: 'shared' });
    expect((await call(b, 'nodes')).result).toEqual(['shared']);
    expect((await call(c, 'nodes')).result).toEqual([]);
    for (const x of [a, b, c]) x.close();
  });

  it('allows only the granted methods', async () => {
    const agent = await load({ graph: { methods: ['ping', 'nodes'] } });
    expect((await call(agent, 'ping')).error).toBeUndefined();
    expect((await call(agent, 'addNode', { key: 'x' })).error?.code).toBe('GRAPH_NOT_GRANTED');
    expect((await call(agent, 'subscribe')).error?.code).toBe('GRAPH_NOT_GRANTED');
    agent.close();
  });

  it('caps request and response bytes per call', async () => {
    const agent = await load({ graph: { maxRequestBytes: 1024, maxResponseBytes: 2048 } });
    const big = await call(agent, 'addNode', { key: 'k', attributes: { blob: 'x'.repeat(2000) } });
    expect(big.error?.code).toBe('GRAPH_REQUEST_TOO_LARGE');
    for (let i = 0; i < 10; i++)
      expect(
        (await call(agent, 'addNode', { key: `n${i}`, attributes: { pad: 'y'.repeat(500) } })).error,
      ).toBeUndefined();
    expect((await call(agent, 'export')).error?.code).toBe('GRAPH_RESPONSE_TOO_LARGE');
    expect((await call(agent, 'hasNode', { key: 'n9' })).result).toBe(true);
    agent.close();
  });

  it('drops a per-agent namespace when its agent is closed', async () => {
    const a = await load({ graph: true });
    await call(a, 'addNode', { key: 'gone' });
    a.close();
    const b = await load({ graph: true });
    expect((await call(b, 'nodes')).result).toEqual([]);
    b.close();
  });
});

describe('resolveGrants', () => {
  const context = { defaultNamespace: '~agent/x/1', baseDir: repoRoot, where: 'load options of t' };
  const invalid = (options: Record<string, unknown>) => {
    try {
      resolveGrants(options, context);
    } catch (error) {
      expect(error).toBeInstanceOf(SandboxError);
      expect((error as SandboxError).code).toBe('SANDBOX_INVALID_OPTIONS');
      return (error as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(options)}`);
  };

  it('grants nothing by default, and data methods in a namespace of its own for `graph: true`', () => {
    expect(resolveGrants({ limits: {} }, context)).toEqual({});
    const g = resolveGrants({ graph: true }, context).graph!;
    expect([...g.methods].sort()).toEqual([...GRAPH_DATA_METHODS].sort());
    expect(g.namespace).toBe('~agent/x/1');
    expect(g.parseDirs).toEqual([]);
  });

  it('refuses what cannot be granted, naming the field', () => {
    expect(invalid({ graph: { methods: ['parseFile'] } })).toMatch(/parse\.dirs/);
    expect(invalid({ graph: { methods: ['subscribe'] } })).toMatch(/subscribe/);
    expect(invalid({ graph: { namespace: '~agent/other/2' } })).toMatch(/namespace/);
    expect(invalid({ graph: { namespace: 'a b' } })).toMatch(/namespace/);
    expect(invalid({ graph: { parse: { dirs: ['no/such/dir'] } } })).toMatch(/no\/such\/dir/);
    expect(invalid({ graph: { maxRequestBytes: 0 } })).toMatch(/maxRequestBytes/);
    expect(invalid({ graph: { colour: 'red' } })).toMatch(/colour/);
    expect(invalid({ graph: 'yes' })).toMatch(/graph/);
  });

  it('refuses grants for commands, components and inline agents, which run without any', async () => {
    const sandbox = new Sandbox({ workers: 1 });
    try {
      await expect(sandbox.runCommand(graphCall, { graph: true })).rejects.toMatchObject({
        code: 'SANDBOX_INVALID_OPTIONS',
      });
      await expect(sandbox.runComponent(graphCall, null, { graph: true })).rejects.toMatchObject({
        code: 'SANDBOX_INVALID_OPTIONS',
      });
      await expect(sandbox.load(graphCall, { graph: true, isolation: 'inline' })).rejects.toMatchObject({
        code: 'SANDBOX_INVALID_OPTIONS',
      });
    } finally {
      await sandbox.close();
    }
  });

  it('rejects a bad grant at load time', async () => {
    const sandbox = new Sandbox({ workers: 1, graph: 'embedded' });
    try {
      await expect(sandbox.load(graphCall, { graph: { methods: ['parseRepository'] } })).rejects.toMatchObject({
        code: 'SANDBOX_INVALID_OPTIONS',
      });
    } finally {
      await sandbox.close();
    }
  });
});
