// `sandbox graph serve|call|parse` run in-process: exit codes, serve until aborted, scripting calls.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { graph } from '../../runtime/cli/graph.ts';
import type { CliIO } from '../../runtime/cli/io.ts';
import { waitFor } from '../support/wait-for.ts';

const dir = mkdtempSync(join(tmpdir(), 'graph-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function io(env: Record<string, string | undefined> = {}, signal = new AbortController().signal) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIO = {
    stdout: { write: (c) => out.push(String(c)) },
    stderr: { write: (c) => err.push(String(c)) },
    stdin: new PassThrough(),
    env,
    cwd: dir,
    signal,
  };
  return { cli, out: () => out.join(''), err: () => err.join('') };
}

describe('sandbox graph', () => {
  it('serves on a socket until aborted, with a ledger that survives a restart', async () => {
    const ac = new AbortController();
    const s = io({}, ac.signal);
    const serving = graph(['serve', '--socket', 'g.sock', '--ledger', 'g.ledger'], s.cli);
    await waitFor('the graph service', () => s.out().includes('listening on unix://'));
    const url = `unix://${join(dir, 'g.sock')}`;

    const c1 = io();
    expect(await graph(['call', url, 'addNode', '{"key":"a","attributes":{"type":"task"}}'], c1.cli)).toBe(0);
    expect(JSON.parse(c1.out())).toEqual({ seq: 1 });
    const c2 = io();
    expect(await graph(['call', url, 'getNode', '{"key":"a"}'], c2.cli)).toBe(0);
    expect(JSON.parse(c2.out())).toEqual({ key: 'a', attributes: { type: 'task' } });
    const c3 = io();
    expect(await graph(['call', url, 'removeNode', '{"key":"zz"}'], c3.cli)).toBe(1);
    expect(c3.err()).toMatch(/GRAPH_NODE_NOT_FOUND/);

    ac.abort();
    expect(await serving).toBe(0);
    expect(s.out()).toMatch(/stopped/);

    const ac2 = new AbortController();
    const s2 = io({}, ac2.signal);
    const again = graph(['serve', '--socket', 'g.sock', '--ledger', 'g.ledger'], s2.cli);
    await waitFor('the graph service', () => s2.out().includes('listening'));
    expect(s2.out()).toMatch(/1 records replayed, seq 1/);
    const c4 = io();
    expect(await graph(['call', url, 'stats'], c4.cli)).toBe(0);
    expect(JSON.parse(c4.out())).toMatchObject({ nodes: 1, lastSeq: 1 });
    ac2.abort();
    expect(await again).toBe(0);
  });

  it('takes the hardening caps as flags and refuses a zero one', async () => {
    const bad = io();
    expect(await graph(['serve', '--socket', 'x.sock', '--max-connections', '0'], bad.cli)).toBe(2);
    expect(bad.err()).toMatch(/--max-connections/);
    const ac = new AbortController();
    const s = io({}, ac.signal);
    const serving = graph(
      [
        'serve',
        '--socket',
        'caps.sock',
        '--max-connections',
        '3',
        '--auth-timeout',
        '1000',
        '--max-in-flight',
        '2',
        '--max-steps',
        '500',
      ],
      s.cli,
    );
    await waitFor('the graph service to listen', () => s.out().includes('listening'));
    ac.abort();
    expect(await serving).toBe(0);
  });

  it('serves TCP only with a token, taken from SANDBOX_GRAPH_TOKEN too', async () => {
    const noToken = io();
    expect(await graph(['serve', '--port', '0'], noToken.cli)).toBe(2);
    expect(noToken.err()).toMatch(/token/);
    const ac = new AbortController();
    const s = io({ SANDBOX_GRAPH_TOKEN: 't0k' }, ac.signal);
    const serving = graph(['serve', '--port', '0'], s.cli);
    await waitFor('the graph service', () => s.out().includes('listening'));
    const url = /tcp:\/\/127\.0\.0\.1:\d+/.exec(s.out())![0];
    const ok = io({ SANDBOX_GRAPH_TOKEN: 't0k' });
    expect(await graph(['call', url, 'ping'], ok.cli)).toBe(0);
    const bad = io();
    expect(await graph(['call', url, 'ping', '--token', 'nope'], bad.cli)).toBe(1);
    expect(bad.err()).toMatch(/GRAPH_UNAUTHORIZED/);
    expect(bad.err()).toMatch(/warning: --token is visible to every user/);
    ac.abort();
    expect(await serving).toBe(0);
  });

  it('takes the token from --token-file, keeping it off the command line (ps)', async () => {
    writeFileSync(join(dir, 'token'), 'f1le-t0k\n', { mode: 0o600 });
    const ac = new AbortController();
    const s = io({}, ac.signal);
    const serving = graph(['serve', '--port', '0', '--token-file', 'token'], s.cli);
    await waitFor('the graph service', () => s.out().includes('listening'));
    expect(s.err()).not.toMatch(/warning/);
    const url = /tcp:\/\/127\.0\.0\.1:\d+/.exec(s.out())![0];
    const ok = io();
    expect(await graph(['call', url, 'ping', '--token-file', 'token'], ok.cli)).toBe(0);
    const wrong = io({ SANDBOX_GRAPH_TOKEN: 'other' });
    expect(await graph(['call', url, 'ping'], wrong.cli)).toBe(1);
    ac.abort();
    expect(await serving).toBe(0);
    const missing = io();
    expect(await graph(['serve', '--port', '0', '--token-file', 'no-such-token'], missing.cli)).toBe(2);
    expect(missing.err()).toMatch(/--token-file: cannot read no-such-token \(ENOENT\)/);
  });

  it('reports usage errors with exit code 2 and unreachable services with 1', async () => {
    expect(await graph([], io().cli)).toBe(2);
    expect(await graph(['frobnicate'], io().cli)).toBe(2);
    expect(await graph(['serve'], io().cli)).toBe(2);
    expect(await graph(['serve', '--socket', 'a', '--port', '1'], io().cli)).toBe(2);
    expect(await graph(['call', 'unix:///x'], io().cli)).toBe(2);
    expect(await graph(['call', 'unix:///x', 'ping', 'not json'], io().cli)).toBe(2);
    expect(await graph(['call', 'ftp://x', 'ping'], io().cli)).toBe(2);
    const gone = io();
    expect(await graph(['call', `unix://${join(dir, 'none.sock')}`, 'ping'], gone.cli)).toBe(1);
    expect(gone.err()).toMatch(/SANDBOX_CONNECTION/);
    const fallback = io({ GRAPH_COMPUTE_FALLBACK: 'embedded' });
    expect(await graph(['call', `unix://${join(dir, 'none.sock')}`, 'ping'], fallback.cli)).toBe(0);
    expect(fallback.err()).toMatch(/in-process/);
  });

  it('parses a directory to a summary or JSON', async () => {
    const src = join(dir, 'src');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.py'), 'def f():\n    g()\ndef g():\n    pass\n');
    const text = io();
    expect(await graph(['parse', 'src'], text.cli)).toBe(0);
    expect(text.out()).toMatch(/1 files: 1 modules, 0 classes, 2 functions/);
    expect(text.out()).toMatch(/1 calls/);
    const json = io();
    expect(await graph(['parse', 'src', '--json'], json.cli)).toBe(0);
    expect(JSON.parse(json.out()).graph.nodes).toHaveLength(3);
    expect(await graph(['parse', 'missing-dir'], io().cli)).toBe(1);
  });
});
