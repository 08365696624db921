// `sandbox serve --dashboard`: its HTTP surface, and the page in a real headless Chromium that watches a run live.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { agentPath, fixturePath, requireBuilt } from '../support/paths.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { sleep } from '../support/wait-for.ts';

const CHROMIUM = '/usr/bin/chromium';
const inCI = process.env.CI === 'true';
const missing = existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} is absent (bash scripts/install-system.sh installs Debian's chromium)`;
if (missing !== undefined && !inCI) console.warn(`dashboard: the browser test is skipped: ${missing}`);

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/**
 * Serve with an `echo` agent (every message ok), a `poison` agent (traps, one delivery, so each failure is a
 * dead letter; escalation quarantines it after 3) and a per-key `counter` with hibernation (one resident), all
 * on `in.x`, fed through a named pipe (`--ingest <fifo>`) so the test decides when messages arrive.
 */
async function startDashboard(): Promise<{ serve: ServeProcess; url: string; feed(lines: object[]): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-dashboard-'));
  const yaml = join(dir, 'sandbox.yaml');
  writeFileSync(
    yaml,
    `queue: memory
deadLetter: dl
escalation:
  window: 600000
  threshold: 3
  cooldown: 600000
hibernation:
  store: ${JSON.stringify(join(dir, 'state'))}
  maxResident: 1
agents:
  - name: echo
    module: ${JSON.stringify(requireBuilt(agentPath('echo-value')))}
    subscribe: [in.x]
    group: echo
  - name: poison
    module: ${JSON.stringify(requireBuilt(fixturePath('trap-unreachable')))}
    subscribe: [in.x]
    group: poison
    maxDeliveries: 1
  - name: counter
    module: ${JSON.stringify(requireBuilt(agentPath('counter')))}
    subscribe: [in.x]
    group: counter
    instances: per-key
`,
  );
  const fifo = join(dir, 'in.ndjson');
  execFileSync('mkfifo', [fifo]);
  // Read-write, so the open does not wait for serve to open its end (Linux), and a write never meets a pipe
  // without a reader; closing it is the end of the file for serve's ingest.
  const writer = openSync(fifo, 'r+');
  const serve = startServe([yaml, '--dashboard', '0', '--ingest', fifo, '--topic', 'in.x', '--key', 'customer']);
  cleanup.push(async () => {
    closeSync(writer);
    await serve.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // serve prints "running" only after the ingest ends (the pipe closes); the dashboard line comes first.
  const deadline = Date.now() + 60_000;
  let match: RegExpExecArray | null;
  while ((match = /^dashboard on (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(serve.output().stderr)) === null) {
    if (Date.now() > deadline) throw new Error(`no dashboard line from serve:\n${serve.output().stderr}`);
    if (serve.child.exitCode !== null) throw new Error(`serve exited:\n${serve.output().stderr}`);
    await sleep(25);
  }
  return {
    serve,
    url: match[1]!,
    feed: (lines) => void writeSync(writer, lines.map((l) => `${JSON.stringify(l)}\n`).join('')),
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET (or another method) with node:http, so the Host header and the raw path are the test's to choose. */
function get(url: string, options: { path?: string; method?: string; headers?: Record<string, string> } = {}) {
  const u = new URL(url);
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: options.path ?? u.pathname,
        method: options.method ?? 'GET',
        headers: options.headers,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        const done = () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        };
        res.on('data', (s: string) => {
          body += s;
          // An event stream never ends: its first snapshot is enough.
          if (
            res.headers['content-type'] === 'text/event-stream' &&
            body.includes('data:') &&
            body.includes('\n\n', body.indexOf('data:'))
          ) {
            req.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', () => {});
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('sandbox serve --dashboard: HTTP', () => {
  it('serves the page, its JSON and its event stream on loopback, and nothing else', async () => {
    const { url } = await startDashboard();
    const page = await get(url);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<script type="module" src="dashboard.js"></script>');
    // No inline script and nothing from another origin: reasons and payloads in the page are untrusted text.
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
    for (const [path, type] of [
      ['/dashboard.js', /^text\/javascript/],
      ['/dashboard.css', /^text\/css/],
      ['/api/state', /^application\/json/],
    ] as const) {
      const r = await get(url, { path });
      expect(r.status, path).toBe(200);
      expect(r.headers['content-type'], path).toMatch(type);
    }
    const state = JSON.parse((await get(url, { path: '/api/state' })).body) as { agents: { name: string }[] };
    expect(state.agents.map((a) => a.name)).toEqual(['echo', 'poison', 'counter']);

    const events = await get(url, { path: '/api/events' });
    expect(events.headers['content-type']).toBe('text/event-stream');
    const data = /^event: state\ndata: (.+)$/m.exec(events.body);
    expect((JSON.parse(data![1]!) as { agents: unknown[] }).agents).toHaveLength(3);

    // Only the page's own files: no path reaches the disk.
    for (const path of ['/../package.json', '/dashboard.js/../../package.json', '/index.html', '/api']) {
      expect((await get(url, { path })).status, path).toBe(404);
    }
    expect((await get(url, { method: 'POST' })).status).toBe(405);
    // Another name resolving to 127.0.0.1 (DNS rebinding) is refused; loopback names are not.
    expect((await get(url, { headers: { host: 'attacker.example' } })).status).toBe(403);
    expect((await get(url, { headers: { host: `localhost:${new URL(url).port}` } })).status).toBe(200);
  });

  it('refuses a bad --dashboard port, and --dashboard-host without --dashboard, as usage errors', async () => {
    for (const args of [
      ['--dashboard', '70000'],
      ['--dashboard', 'x'],
      ['--dashboard-host', '0.0.0.0'],
    ]) {
      const serve = startServe([join('examples', 'sandbox.yaml'), ...args]);
      expect(await serve.exited, args.join(' ')).toBe(2);
      expect(serve.output().stderr).toMatch(/--dashboard/);
    }
  });
});

describe.runIf(missing !== undefined && inCI)('sandbox serve --dashboard in Chromium (CI)', () => {
  it('has Chromium', () => {
    throw new Error(`the dashboard browser test cannot run: ${missing}`);
  });
});

describe.skipIf(missing !== undefined)('sandbox serve --dashboard in a headless Chromium', () => {
  it('shows per-agent counts, a dead letter with its reason, the quarantined agent and residency, and follows the run live', async () => {
    const { chromium } = await import('playwright-core');
    const dashboard = await startDashboard();
    const { url } = dashboard;
    const feed = (lines: object[]): void => {
      dashboard.feed(lines);
    };
    const userDataDir = mkdtempSync(join(tmpdir(), 'sandbox-dashboard-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 60_000,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    cleanup.push(async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    });
    const page = context.pages()[0] ?? (await context.newPage());
    // Script errors and policy violations (a blocked resource is a console error) fail the test at the end.
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });

    const text = async (selector: string): Promise<string> =>
      (
        (await page
          .locator(selector)
          .first()
          .textContent({ timeout: 1000 })
          .catch(() => null)) ?? ''
      ).trim();
    /** Polls the live page (never reloaded) until `ok` holds for the element's text. */
    const until = async (selector: string, ok: (s: string) => boolean, what: string): Promise<string> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const s = await text(selector);
        if (ok(s)) return s;
        if (Date.now() > deadline)
          throw new Error(`the page never showed ${what} (${selector} reads ${JSON.stringify(s)})`);
        await sleep(100);
      }
    };
    const row = (agent: string, field: string) => `#agents tr[data-agent="${agent}"] [data-field="${field}"]`;

    const customers = ['alice', 'bob'];
    feed(Array.from({ length: 6 }, (_, i) => ({ id: i, customer: customers[i % 2] })));
    await page.goto(url);
    await until('#connection', (s) => s === 'live', 'the live connection');
    await until(row('echo', 'runs'), (s) => s === '6', 'echo with 6 runs');
    expect(await text(row('echo', 'byStatus'))).toBe('6 ok');
    expect(await text(row('echo', 'acked'))).toBe('6');

    // The poison agent: its failures dead-lettered with their reason, then quarantined.
    await until(row('poison', 'state'), (s) => s === 'quarantined', 'poison quarantined');
    expect(Number(await text(row('poison', 'deadLettered')))).toBeGreaterThanOrEqual(3);
    await until(
      '#quarantines li[data-agent="poison"]',
      (s) => /quarantined after \d+ failures/.test(s),
      'the quarantine',
    );
    const reason = await until(
      '#dead-letters tr[data-agent="poison"] [data-field="reason"]',
      (s) => s.length > 0,
      'a dead letter of poison',
    );
    expect(reason).toMatch(/^poison: trap: .*unreachable/);
    expect(await text('#dead-letters tr[data-agent="poison"] [data-field="topic"]')).toBe('in.x');

    // The per-key counter: two keys, one resident (maxResident 1), the other hibernated.
    await until(row('counter', 'keys'), (s) => s === '2', 'counter with 2 keys');
    await until('#residency [data-field="resident"]', (s) => s === '1', 'one resident agent');
    await until('#residency [data-field="hibernated"]', (s) => Number(s) >= 1, 'a hibernated agent');

    // Live: more messages while the page stays open; the same page follows without a reload.
    const updated = await page.evaluate('document.body.dataset.updated');
    // Every message of the first batch handled by poison (run or parked) before counting the second's.
    let parked = 0;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const runs = Number(await text(row('poison', 'runs')));
      parked = Number(await text(row('poison', 'parked')));
      if (runs + parked === 6) break;
      if (Date.now() > deadline) throw new Error(`poison never handled the first 6 (${runs} runs, ${parked} parked)`);
      await sleep(100);
    }
    feed(Array.from({ length: 6 }, (_, i) => ({ id: 6 + i, customer: customers[i % 2] })));
    await until(row('echo', 'runs'), (s) => s === '12', 'echo with 12 runs');
    await until(row('echo', 'runsPerSecond'), (s) => Number(s) > 0, 'a rate for echo');
    // Quarantined: poison's new messages are parked, not run.
    await until(row('poison', 'parked'), (s) => Number(s) === parked + 6, 'poison parking the 6 new messages');
    expect(await text(row('poison', 'state'))).toBe('quarantined');
    expect(await page.evaluate('document.body.dataset.updated')).not.toBe(updated);
    expect(problems).toEqual([]);
  }, 180_000);
});
