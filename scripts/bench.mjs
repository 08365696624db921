#!/usr/bin/env node
// Runs one benchmark suite: `npm run bench -- <suite> [args]` runs bench/<suite>.ts under tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [suite, ...rest] = process.argv.slice(2);
const suites = readdirSync(join(root, 'bench'))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
if (!suite || !suites.includes(suite)) {
  console.error(`usage: npm run bench -- <suite>\nsuites: ${suites.join(', ')}`);
  process.exit(2);
}
const file = join(root, 'bench', `${suite}.ts`);
if (!existsSync(file)) process.exit(2);
// Figures depend on V8: say which Node ran them, first, so a pasted table carries it.
console.log(
  `bench ${suite}: Node ${process.version} (V8 ${process.versions.v8}) on ${process.platform}-${process.arch}`,
);
// V8 flags a suite needs from the start (setting them at run time is unsupported, and crashes Node 26's V8).
const V8_FLAGS = { fuel: ['--no-liftoff'] };
const r = spawnSync(process.execPath, [...(V8_FLAGS[suite] ?? []), '--import', 'tsx', '--expose-gc', file, ...rest], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
