// Keyed agents for a cluster's shared store: exportState hands back the state image after each ok run; initialState starts a key from an image (or afresh) instead of the local store.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readStateImage } from '../../runtime/hibernation/state-image.ts';
import { Sandbox } from '../../runtime/index.ts';
import { agentPath, requireBuilt } from '../support/paths.ts';

const counter = new Uint8Array(readFileSync(requireBuilt(agentPath('counter'))));
const dirs: string[] = [];
const sandboxes: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(): Sandbox {
  const store = mkdtempSync(join(tmpdir(), 'sandbox-export-'));
  dirs.push(store);
  const sandbox = new Sandbox({ workers: 2, hibernation: { store } });
  sandboxes.push(sandbox);
  return sandbox;
}

describe('exportState and initialState (cluster mode)', () => {
  it('hands back the state image after every ok run, and a key loaded with it continues from there', async () => {
    const a = open();
    const agent = await a.load(counter, { key: 'k', exportState: true });
    const first = await agent.run({ by: 5 });
    expect(first.output).toEqual({ count: 5 });
    expect(first.state).toBeInstanceOf(Uint8Array);
    const second = await agent.run({ by: 2 });
    expect(readStateImage(second.state!).moduleHash).toBe(readStateImage(first.state!).moduleHash);
    // A failed run hands back nothing (its change is undone).
    const bad = await agent.run('not a map');
    expect(bad.status).not.toBe('ok');
    expect(bad.state).toBeUndefined();
    // Another sandbox (another node, its own store) continues from the image of the first run, not the second.
    const b = open();
    const moved = await b.load(counter, { key: 'k', initialState: first.state! });
    expect((await moved.run({ by: 1 })).output).toEqual({ count: 6 });
  });

  it('starts from the handed state even where the local store holds another, and afresh with null', async () => {
    const sandbox = open();
    const local = await sandbox.load(counter, { key: 'x', exportState: true });
    const image = (await local.run({ by: 40 })).state!;
    expect((await local.run({ by: 2 })).output).toEqual({ count: 42 });
    local.close();
    // The store now holds 42 for `x`; the handed image says 40.
    const again = await sandbox.load(counter, { key: 'x', initialState: image });
    expect((await again.run({ by: 1 })).output).toEqual({ count: 41 });
    again.close();
    const fresh = await sandbox.load(counter, { key: 'x', initialState: null });
    expect((await fresh.run({ by: 1 })).output).toEqual({ count: 1 });
  });

  it('refuses exportState and initialState without a key', async () => {
    const sandbox = open();
    await expect(sandbox.load(counter, { exportState: true })).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_OPTIONS',
    });
    await expect(sandbox.load(counter, { initialState: null })).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_OPTIONS',
    });
  });
});
