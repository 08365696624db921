// Topology files: defaults, resolution of module paths, and validation errors that name the field and line.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology, parseTopology } from '../../runtime/swarm/topology.ts';
import { repoRoot } from '../support/paths.ts';
import { topologyError } from '../support/topology.ts';

const errorOf = topologyError;

const MINIMAL = `agents:
  - name: triage
    module: agents/triage.wasm
    subscribe: logs.>
`;

describe('topology', () => {
  it('fills in defaults and resolves modules against the file', () => {
    const t = parseTopology(MINIMAL, { baseDir: '/base' });
    expect(t.queue).toBe('memory');
    expect(t.deadLetter).toBe('dead-letter');
    expect(t.agents).toEqual([
      {
        name: 'triage',
        module: '/base/agents/triage.wasm',
        limits: {},
        subscribe: ['logs.>'],
        group: 'triage',
        concurrency: 1,
        maxDeliveries: 5,
        backoffMs: 100,
      },
    ]);
  });

  it('reads every field, sizes with units included', () => {
    const t = parseTopology(
      `queue: nats://127.0.0.1:4222
deadLetter: dead.letters
agents:
  - name: a
    module: a.wasm
    subscribe: [x.*, y.>]
    group: workers
    concurrency: 4
    maxDeliveries: 2
    backoffMs: 50
    limits: { memoryBytes: 4MiB, fuel: 1000, timeoutMs: 200 }
`,
      { baseDir: '/b' },
    );
    expect(t.queue).toBe('nats://127.0.0.1:4222');
    expect(t.deadLetter).toBe('dead.letters');
    expect(t.agents[0]).toMatchObject({
      subscribe: ['x.*', 'y.>'],
      group: 'workers',
      concurrency: 4,
      maxDeliveries: 2,
      backoffMs: 50,
      limits: { memoryBytes: 4 << 20, fuel: 1000, timeoutMs: 200 },
    });
  });

  it('reads graph grants (default-deny, one namespace per entry) and the graph source', () => {
    const dir = mkdtempSync(join(tmpdir(), 'topology-graph-'));
    const t = parseTopology(
      `graph: embedded
agents:
  - name: planner
    module: p.wasm
    subscribe: tasks
    graph: true
  - name: indexer
    module: i.wasm
    subscribe: repos
    graph:
      namespace: code
      parse: { dirs: [.] }
      maxResponseBytes: 65536
  - name: plain
    module: x.wasm
    subscribe: x
`,
      { baseDir: dir },
    );
    expect(t.graph).toBe('embedded');
    expect(t.agents[0]!.graph).toMatchObject({ namespace: 'topology.planner', maxRequestBytes: 1 << 20 });
    expect(t.agents[0]!.graph!.methods).not.toContain('parseFile');
    expect(t.agents[1]!.graph).toMatchObject({ namespace: 'code', parse: { dirs: [dir] }, maxResponseBytes: 65536 });
    expect(t.agents[1]!.graph!.methods).toContain('parseRepository');
    expect(t.agents[2]!.graph).toBeUndefined();
  });

  it('reads config and HTTP grants, and refuses host functions (they are granted in code)', () => {
    const t = parseTopology(
      `agents:
  - name: fetcher
    module: f.wasm
    subscribe: urls
    config: { region: eu }
    allowedHosts: [api.example.com, '*.cdn.example']
    http: { methods: [GET], maxResponseBytes: 4096 }
`,
      { baseDir: '/base' },
    );
    expect(t.agents[0]).toMatchObject({
      config: { region: 'eu' },
      allowedHosts: ['api.example.com', '*.cdn.example'],
      http: { methods: ['GET'], maxResponseBytes: 4096, timeoutMs: 5000 },
    });
    expect(errorOf(`${MINIMAL}    host: { x: y }\n`)).toMatch(
      /agents\[0\] \(triage\)\.host \(line 5\): host functions are granted in code/,
    );
    expect(errorOf(`${MINIMAL}    allowedHosts: ['http://x/']\n`)).toMatch(/allowedHosts/);
    expect(errorOf(`${MINIMAL}    config: { n: 1 }\n`)).toMatch(/config\.n/);
  });

  it('rejects a bad graph grant or source, naming the field and line', () => {
    const bad = errorOf(`graph: ftp://x
agents:
  - name: a
    module: a.wasm
    subscribe: x
    graph: { methods: [parseFile] }
`);
    expect(bad).toMatch(/graph \(line 1\)/);
    expect(bad).toMatch(/agents\[0\] \(a\)\.graph \(line 6\).*parse\.dirs/);
  });

  it('rejects unknown keys, naming the key and its line', () => {
    expect(errorOf(`${MINIMAL}    concurency: 2\n`)).toMatch(
      /agents\[0\] \(triage\)\.concurency \(line 5\): unknown key/,
    );
    expect(errorOf(`queues: memory\n${MINIMAL}`)).toMatch(/queues \(line 1\): unknown key/);
    expect(errorOf(`${MINIMAL}    limits: { fule: 5 }\n`)).toMatch(/limits\.fule \(line 5\): unknown key/);
  });

  it('rejects bad values, naming the field and line', () => {
    expect(errorOf(`queue: redis://x:1\n${MINIMAL}`)).toMatch(/queue \(line 1\): .*expected memory, nats/);
    expect(errorOf(`deadLetter: "dead letter"\n${MINIMAL}`)).toMatch(/deadLetter \(line 1\)/);
    expect(errorOf(MINIMAL.replace('logs.>', 'logs.>.x'))).toMatch(/subscribe \(line 4\): .*must be the last token/);
    expect(errorOf(`${MINIMAL}    concurrency: 0\n`)).toMatch(/concurrency \(line 5\): expected an integer ≥ 1/);
    expect(errorOf(`${MINIMAL}    maxDeliveries: two\n`)).toMatch(/maxDeliveries \(line 5\)/);
    expect(errorOf(`${MINIMAL}    limits: { memoryBytes: lots }\n`)).toMatch(
      /limits\.memoryBytes \(line 5\): expected a size/,
    );
    expect(errorOf(MINIMAL.replace('name: triage', 'name: "tri age"'))).toMatch(/agents\[0\]\.name \(line 2\)/);
  });

  it('rejects missing agents, fields and duplicates, listing every problem', () => {
    expect(errorOf('queue: memory\n')).toMatch(/agents.*non-empty list/);
    const message = errorOf(`agents:\n  - name: a\n  - name: a\n    module: m.wasm\n    subscribe: x\n`);
    expect(message).toMatch(/agents\[0\] \(a\)\.module .*expected the path/);
    expect(message).toMatch(/agents\[0\] \(a\)\.subscribe .*expected a pattern/);
    expect(message).toMatch(/agents\[1\] \(a\)\.name \(line 3\): another agent has this name/);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(errorOf('agents:\n  - name: [a\n')).toMatch(/line \d+: /);
    expect(errorOf('queue: memory\nqueue: memory\nagents: []\n')).toMatch(/line 2/);
  });

  it('loadTopology checks that modules exist; the example topology loads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-topology-'));
    writeFileSync(join(dir, 'sandbox.yaml'), MINIMAL);
    await expect(loadTopology(join(dir, 'sandbox.yaml'))).rejects.toThrow(/triage\)\.module: no such file/);
    const example = await loadTopology(join(repoRoot, 'examples', 'sandbox.yaml'));
    expect(example.agents[0]!.module).toBe(join(repoRoot, 'agents', 'build', 'triage.wasm'));
  });
});
