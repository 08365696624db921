// Topology files with per-key agents and a hibernation block: values, defaults, and errors that name the field and line.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultWorkers } from '../../runtime/swarm/index.ts';
import { loadTopology, parseTopology } from '../../runtime/swarm/topology.ts';
import { repoRoot } from '../support/paths.ts';
import { topologyError } from '../support/topology.ts';

const errorOf = topologyError;

const HIBERNATION = `hibernation:
  store: state/counters
`;
const AGENT = `agents:
  - name: counter
    module: counter.wasm
    subscribe: counts.>
`;

describe('topology: per-key agents and hibernation', () => {
  it('reads the hibernation block (store relative to the file) and instances: per-key', () => {
    const t = parseTopology(
      `hibernation: { store: ../state, maxResident: 64, maxResidentBytes: 8388608, idleMs: 0, checkpointMs: 250 }\n${AGENT}    instances: per-key\n`,
      { baseDir: '/base/topo' },
    );
    expect(t.hibernation).toEqual({
      store: '/base/state',
      maxResident: 64,
      maxResidentBytes: 8388608,
      idleMs: 0,
      checkpointMs: 250,
    });
    expect(t.agents[0]).toMatchObject({ name: 'counter', instances: 'per-key', concurrency: 1 });
  });

  it('leaves both out by default; instances: fixed is the default spelled out', () => {
    const t = parseTopology(AGENT, { baseDir: '/base' });
    expect(t.hibernation).toBeUndefined();
    expect(t.agents[0]!.instances).toBeUndefined();
    expect(
      parseTopology(`${AGENT}    instances: fixed\n    concurrency: 4\n`, { baseDir: '/base' }).agents[0],
    ).toMatchObject({ instances: 'fixed', concurrency: 4 });
    expect(parseTopology(`${HIBERNATION}${AGENT}`, { baseDir: '/base' }).hibernation).toEqual({
      store: '/base/state/counters',
    });
  });

  it('per-key needs the hibernation block and excludes concurrency > 1', () => {
    expect(errorOf(`${AGENT}    instances: per-key\n`)).toMatch(
      /agents\[0\] \(counter\)\.instances \(line 5\): per-key needs the top-level `hibernation` block/,
    );
    expect(errorOf(`${HIBERNATION}${AGENT}    instances: per-key\n    concurrency: 2\n`)).toMatch(
      /agents\[0\] \(counter\)\.concurrency \(line 8\): a per-key agent has one instance per key; concurrency must be 1/,
    );
    expect(
      parseTopology(`${HIBERNATION}${AGENT}    instances: per-key\n    concurrency: 1\n`, { baseDir: '/b' }).agents[0]!
        .concurrency,
    ).toBe(1);
  });

  it('rejects a bad instances value and bad hibernation fields, naming each with its line', () => {
    expect(errorOf(`${HIBERNATION}${AGENT}    instances: per_key\n`)).toMatch(
      /agents\[0\] \(counter\)\.instances \(line 7\): expected fixed or per-key, got "per_key"/,
    );
    expect(errorOf(`${HIBERNATION}${AGENT}    perKey: true\n`)).toMatch(
      /agents\[0\] \(counter\)\.perKey \(line 7\): unknown key/,
    );
    expect(errorOf(`hibernation: ./state\n${AGENT}`)).toMatch(/hibernation \(line 1\): expected a map with store/);
    expect(errorOf(`hibernation: { maxResident: 8 }\n${AGENT}`)).toMatch(
      /hibernation\.store \(line 1\): expected the path of a directory/,
    );
    const message = errorOf(
      `hibernation:\n  store: s\n  maxResident: 0\n  idleMs: -1\n  checkpointMs: soon\n  maxResidnet: 9\n${AGENT}`,
    );
    expect(message).toMatch(/hibernation\.maxResident \(line 3\): expected an integer ≥ 1, got 0/);
    expect(message).toMatch(/hibernation\.idleMs \(line 4\): expected an integer ≥ 0, got -1/);
    expect(message).toMatch(/hibernation\.checkpointMs \(line 5\): expected an integer ≥ 0, got "soon"/);
    expect(message).toMatch(/hibernation\.maxResidnet \(line 6\): unknown key/);
  });

  it('defaultWorkers never exceeds maxResident, and gives a per-key agent every core', () => {
    const t = parseTopology(`hibernation: { store: s, maxResident: 1 }\n${AGENT}    instances: per-key\n`, {
      baseDir: '/b',
    });
    expect(defaultWorkers(t)).toBe(1);
    const wide = parseTopology(`hibernation: { store: s }\n${AGENT}    instances: per-key\n`, { baseDir: '/b' });
    expect(defaultWorkers(wide)).toBeGreaterThanOrEqual(1);
  });

  it('the example counters topology loads', async () => {
    const t = await loadTopology(join(repoRoot, 'examples', 'counters.yaml'));
    expect(t.agents[0]).toMatchObject({
      name: 'counter',
      instances: 'per-key',
      module: join(repoRoot, 'agents', 'build', 'counter.wasm'),
    });
    expect(t.hibernation?.store).toBe(join(repoRoot, 'examples', 'counters.state'));
  });
});
