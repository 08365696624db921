// `sandbox serve` in-process: fed by --ingest, watched with --tail, stopped by the signal; and `sandbox demo`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../runtime/cli/main.ts';
import { runCli } from '../support/cli.ts';
import { fixturePath, repoRoot, requireBuilt } from '../support/paths.ts';
import { waitFor } from '../support/wait-for.ts';

/** Starts the CLI with a signal the test controls; `output()` reads what it wrote so far. */
function startCli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const controller = new AbortController();
  const stdin = Readable.from([]) as Readable & { isTTY?: boolean };
  stdin.isTTY = true;
  const done = main(argv, {
    stdout: { write: (s: string | Uint8Array) => (stdout += String(s)) },
    stderr: { write: (s: string | Uint8Array) => (stderr += String(s)) },
    stdin,
    env: {},
    cwd: repoRoot,
    signal: controller.signal,
  });
  return { done, abort: () => controller.abort('SIGTERM'), output: () => ({ stdout, stderr }) };
}

const dir = mkdtempSync(join(tmpdir(), 'sandbox-serve-'));

describe('sandbox serve', () => {
  it("serves until aborted, publishing ok runs' events, then drains and returns 0", async () => {
    const yaml = join(dir, 'sandbox.yaml');
    writeFileSync(
      yaml,
      `queue: memory
agents:
  - name: emitter
    module: ${JSON.stringify(requireBuilt(fixturePath('emit-ok')))}
    subscribe: [in.ok]
  - name: poison
    module: ${JSON.stringify(requireBuilt(fixturePath('trap-unreachable')))}
    subscribe: [in.bad]
    maxDeliveries: 2
    backoffMs: 5
`,
    );
    const okFile = join(dir, 'in.ndjson');
    writeFileSync(okFile, `${Array.from({ length: 10 }, (_, i) => JSON.stringify({ i })).join('\n')}\n`);
    const cli = startCli(['serve', yaml, '--ingest', okFile, '--topic', 'in.ok', '--tail', '>']);
    // 10 inputs + 20 events on alerts.* (the tail sees every topic).
    await waitFor('the condition', () => (cli.output().stdout.match(/^alerts\./gm) ?? []).length === 20);
    expect(cli.output().stderr).toMatch(
      /agent emitter: .*emit-ok\.wasm ← in\.ok \(group emitter, concurrency 1, maxDeliveries 5\)/,
    );
    expect(cli.output().stderr).toMatch(/agent poison: .*← in\.bad/);
    expect(cli.output().stderr).toMatch(/10 lines: 10 published, 0 malformed/);
    cli.abort();
    expect(await cli.done).toBe(0);
    const { stdout, stderr } = cli.output();
    expect(stdout.match(/^in\.ok /gm)).toHaveLength(10);
    expect(stdout).toMatch(/^alerts\.db \{"n":1\}  \(.*x-source-agent="emitter"/m);
    expect(stderr).toMatch(/stopping: draining/);
    expect(stderr).toMatch(/emitter: 10 runs \(10 ok\), 20 events published, 10 acked, 0 retried, 0 dead-lettered/);
    expect(stderr).toMatch(/poison: 0 runs, 0 events published/);
  });

  it('with --once, stops by itself when the ingested file is done; failed runs are dead-lettered', async () => {
    const yaml = join(dir, 'poison.yaml');
    writeFileSync(
      yaml,
      `agents:
  - name: poison
    module: ${JSON.stringify(fixturePath('trap-unreachable'))}
    subscribe: in.bad
    maxDeliveries: 2
    backoffMs: 5
`,
    );
    const badFile = join(dir, 'bad.ndjson');
    writeFileSync(badFile, '{"x":1}\n{"x":2}\n');
    const r = await runCli([
      'serve',
      yaml,
      '--ingest',
      badFile,
      '--topic',
      'in.bad',
      '--tail',
      'dead-letter',
      '--once',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^dead-letter \{"x":\d\}.*x-dead-letter-reason="poison: trap/gm)).toHaveLength(2);
    expect(r.stderr).toMatch(/poison: 4 runs \(4 trap\), 0 events published, 0 acked, 2 retried, 2 dead-lettered/);
    // Why they failed, not only how many.
    expect(r.stderr).toMatch(/^  top failures: 4× trap: the agent trapped: unreachable/m);
  });

  it('with --trace, puts a W3C traceparent on the events agents publish (none without it)', async () => {
    const yaml = join(dir, 'trace.yaml');
    writeFileSync(
      yaml,
      `agents:
  - name: emitter
    module: ${JSON.stringify(requireBuilt(fixturePath('emit-ok')))}
    subscribe: in.t
`,
    );
    const file = join(dir, 'trace.ndjson');
    writeFileSync(file, '{"x":1}\n');
    const serve = (extra: string[]) =>
      runCli(['serve', yaml, '--ingest', file, '--topic', 'in.t', '--tail', 'alerts.>', '--once', ...extra]);
    const traced = await serve(['--trace']);
    expect(traced.code).toBe(0);
    const parents = [...traced.stdout.matchAll(/traceparent="00-([0-9a-f]{32})-([0-9a-f]{16})-01"/g)];
    expect(parents).toHaveLength(2);
    // Both events come from one run: one trace, one parent span.
    expect(new Set(parents.map((p) => `${p[1]}-${p[2]}`)).size).toBe(1);
    const plain = await serve([]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.match(/^alerts\./gm)).toHaveLength(2);
    expect(plain.stdout).not.toContain('traceparent');
  });

  it('prints the summary as JSON with --json, with the top failure reasons', async () => {
    const yaml = join(dir, 'poison.yaml');
    const badFile = join(dir, 'bad.ndjson');
    const r = await runCli(['serve', yaml, '--ingest', badFile, '--topic', 'in.bad', '--once', '--json']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary.agents[0]).toMatchObject({
      name: 'poison',
      runs: { trap: 4 },
      deadLettered: 2,
      topFailures: [{ count: 4, reason: expect.stringMatching(/^trap: the agent trapped: unreachable/) }],
    });
    expect(summary.throughput.messages).toBe(4);
    const usage = await runCli([
      'serve',
      yaml,
      '--ingest',
      join(dir, 'none.ndjson'),
      '--topic',
      'in.bad',
      '--once',
      '--json',
    ]);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toEqual({
      error: { code: 'SANDBOX_USAGE', message: `no such file: ${join(dir, 'none.ndjson')}` },
    });
  });

  it('rejects an invalid topology with the field and line, and usage errors', async () => {
    const yaml = join(dir, 'bad.yaml');
    writeFileSync(yaml, 'agents:\n  - name: a\n    module: a.wasm\n    subscribe: x\n    concurrency: -1\n');
    const r = await runCli(['serve', yaml]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/agents\[0\] \(a\)\.concurrency \(line 5\)/);
    expect((await runCli(['serve', yaml, '--once'])).stderr).toMatch(/go with --ingest/);
    expect((await runCli(['serve'])).code).toBe(2);
  });

  it('tail prints until aborted or --count, and rejects a bad pattern', async () => {
    const cli = startCli(['tail', 'alerts.>']);
    await new Promise((r) => setTimeout(r, 50));
    cli.abort();
    expect(await cli.done).toBe(0);
    expect((await runCli(['tail', 'alerts.>', '--count', '0'])).code).toBe(0);
    expect((await runCli(['tail', 'a.>.b'])).code).toBe(2);
  });

  it('sandbox demo triages the sample logs and reports what it found', async () => {
    const r = await runCli(['demo']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/records +\d+ published to logs\.app; 6 malformed lines skipped, 1 blank/);
    expect(r.stdout).toMatch(/line 41: invalid JSON/);
    expect(r.stdout).toMatch(/severity +critical [1-9]\d* +high [1-9]\d* +medium [1-9]\d* +low [1-9]\d*/);
    expect(r.stdout).toMatch(/bursts +2 /);
    expect(r.stdout).toMatch(/postgres +at \d\d:\d\d:\d\d UTC/);
    expect(r.stdout).toMatch(/rejected +3 records/);
    expect(r.stdout).toMatch(/line 216: field `service` must be a string/);
  });
});
