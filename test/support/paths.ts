// Where tests find the repository, built agents, fixtures and the shared material beside the checkout.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDir = resolve(repoRoot, '..', 'shared');
export const agentPath = (name: string) => join(repoRoot, 'agents', 'build', `${name}.wasm`);
export const fixturePath = (name: string) => join(repoRoot, 'fixtures', 'build', `${name}.wasm`);

/** Fails with the command that builds them, rather than skipping: an unbuilt agent is a broken setup. */
export function requireBuilt(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build:agents\``);
  return path;
}
