// Every test file belongs to exactly one vitest project: a new test folder outside them would silently never run.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import config from '../../vitest.config.ts';
import { repoRoot } from '../support/paths.ts';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return testFiles(path);
    return e.name.endsWith('.test.ts') ? [relative(repoRoot, path)] : [];
  });
}

/** The include globs used here: `<folder>/**\/*.test.ts` only. */
const covers = (glob: string, file: string): boolean => {
  const m = /^(.*)\/\*\*\/\*\.test\.ts$/.exec(glob);
  if (m === null) throw new Error(`test-projects.test.ts understands <folder>/**/*.test.ts only, not ${glob}`);
  return file.startsWith(`${m[1]!}/`);
};

describe('vitest projects', () => {
  it('run every test file exactly once', () => {
    const projects = (config.test?.projects ?? []) as { test: { name: string; include: string[] } }[];
    expect(projects.map((p) => p.test.name)).toEqual(['unit', 'conformance', 'agents', 'integration']);
    const files = testFiles(join(repoRoot, 'test'));
    expect(files.length).toBeGreaterThan(50);
    const homes = files.map(
      (file) =>
        [file, projects.filter((p) => p.test.include.some((g) => covers(g, file))).map((p) => p.test.name)] as const,
    );
    expect(homes.filter(([, names]) => names.length !== 1)).toEqual([]);
  });
});
