// `sandbox serve` with a per-key topology (examples/counters.yaml): one counter per customer, states kept in the store across runs.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/sandbox.ts';
import { runCli } from '../support/cli.ts';
import { agentPath, repoRoot, requireBuilt } from '../support/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'sandbox-serve-per-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The example topology, moved into a temporary directory (so its store lands there) with its module path kept. */
function exampleTopology(): string {
  const text = readFileSync(join(repoRoot, 'examples', 'counters.yaml'), 'utf8');
  const yaml = join(dir, 'counters.yaml');
  writeFileSync(yaml, text.replace('../agents/build/counter.wasm', JSON.stringify(requireBuilt(agentPath('counter')))));
  return yaml;
}

/** Each customer's total of `by` in the sample orders. */
function expectedTotals(file: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const order = JSON.parse(line) as { customer?: string; by?: number };
    if (order.customer !== undefined) totals.set(order.customer, (totals.get(order.customer) ?? 0) + (order.by ?? 1));
  }
  return totals;
}

async function storedCounts(store: string, customers: string[]): Promise<Record<string, number>> {
  const sandbox = new Sandbox({ workers: 1, hibernation: { store } });
  try {
    const counts: Record<string, number> = {};
    for (const customer of customers) {
      const agent = await sandbox.load(agentPath('counter'), { key: `counter/${customer}` });
      counts[customer] = ((await agent.run({ by: 0 })).output as { count: number }).count;
    }
    return counts;
  } finally {
    await sandbox.close();
  }
}

describe('sandbox serve with instances: per-key', () => {
  it('counts per customer key, dead-letters the keyless order, and continues from the store on the next run', async () => {
    const yaml = exampleTopology();
    const orders = join(repoRoot, 'examples', 'orders.ndjson');
    const totals = expectedTotals(orders);
    const lines = readFileSync(orders, 'utf8').trim().split('\n').length;
    const argv = [
      'serve',
      yaml,
      '--ingest',
      orders,
      '--topic',
      'orders.placed',
      '--key',
      'customer',
      '--tail',
      'dead-letter',
      '--once',
    ];

    const first = await runCli(argv);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(
      /hibernation: .*counters\.state \(maxResident 1024, idleMs 60000, checkpointMs 1000\)/,
    );
    expect(first.stderr).toMatch(
      /agent counter: .*counter\.wasm ← orders\.> \(group counter, one instance per key, maxDeliveries 3\)/,
    );
    const runs = lines - 1;
    expect(first.stderr).toContain(
      `counter: ${runs} runs (${runs} ok), 0 events published, ${runs} acked, 0 retried, 1 dead-lettered, ${totals.size} keys`,
    );
    expect(first.stdout).toMatch(/^dead-letter \{"order":0,.*x-dead-letter-reason="counter: the message has no key/m);

    const store = join(dir, 'counters.state');
    expect(await storedCounts(store, [...totals.keys()])).toEqual(Object.fromEntries(totals));

    // The same file again: every count continues from the first run's.
    const second = await runCli(argv);
    expect(second.code, second.stderr).toBe(0);
    expect(await storedCounts(store, [...totals.keys()])).toEqual(
      Object.fromEntries([...totals].map(([k, v]) => [k, 2 * v])),
    );
  });

  it('refuses a per-key agent without a hibernation block, naming the line', async () => {
    const yaml = join(dir, 'no-store.yaml');
    writeFileSync(
      yaml,
      `agents:\n  - name: counter\n    module: ${JSON.stringify(agentPath('counter'))}\n    subscribe: orders.>\n    instances: per-key\n`,
    );
    const r = await runCli(['serve', yaml]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /agents\[0\] \(counter\)\.instances \(line 5\): per-key needs the top-level `hibernation` block/,
    );
  });
});
