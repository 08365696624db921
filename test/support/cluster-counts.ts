// Reads a cluster's per-key counter states back from its bucket and asks the counter agent itself for each count (the check of cluster tests and bench).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openBucket, keys } from '../../runtime/cluster/bucket.ts';
import { KeyStateStore } from '../../runtime/cluster/key-state.ts';
import { readStateImage } from '../../runtime/hibernation/state-image.ts';
import { Sandbox } from '../../runtime/sandbox.ts';

/**
 * The count each key's committed state holds (0 for a key never written): the state and the base image are put into
 * a fresh local store, the counter is loaded on it and run with `{by: 0}`, so the figure is the agent's own.
 */
export async function committedCounts(
  servers: string[],
  bucket: string,
  agent: string,
  counter: Uint8Array,
  keyList: readonly string[],
): Promise<Map<string, { count: number; applied: number }>> {
  const b = await openBucket({ servers, bucket, replicas: 1, name: 'cluster-check', direct: false });
  const dir = mkdtempSync(path.join(tmpdir(), 'sandbox-cluster-check-'));
  const sandbox = new Sandbox({ workers: 1, hibernation: { store: dir } });
  try {
    const states = new KeyStateStore(b.kv);
    const out = new Map<string, { count: number; applied: number }>();
    let baseSet = false;
    for (const key of keyList) {
      const state = await states.read(agent, key);
      if (state.image === undefined) {
        out.set(key, { count: 0, applied: 0 });
        continue;
      }
      if (!baseSet) {
        const hash = readStateImage(state.image).moduleHash;
        const base = await b.kv.get(keys.base(hash));
        if (base !== null) await sandbox.putBase(hash, base.value);
        baseSet = true;
      }
      const stateKey = `${agent}/${key}`;
      const loaded = await sandbox.load(counter, { key: stateKey, initialState: state.image });
      const result = await loaded.run({ by: 0 });
      if (result.status !== 'ok') throw new Error(`${key}: ${result.status} ${result.message ?? ''}`);
      out.set(key, { count: (result.output as { count: number }).count, applied: state.applied });
      loaded.close();
    }
    return out;
  } finally {
    await sandbox.close();
    await b.nc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
