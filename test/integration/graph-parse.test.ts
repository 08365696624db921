// Source parsing with tree-sitter: Python and TypeScript/JavaScript to module/class/function nodes and edges.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphJSON } from '../../runtime/graph/graph.ts';
import { parseFile, parseRepository } from '../../runtime/graph/index.ts';

let root: string;
let outside: string;

const files: Record<string, string> = {
  'pkg/__init__.py': '',
  'pkg/util.py': [
    'import os',
    'def helper(x):',
    '    return os.path.join(x)',
    'class Base:',
    '    def run(self):',
    '        return self.step()',
    '    def step(self):',
    '        def inner():',
    '            return helper(1)',
    '        return inner()',
  ].join('\n'),
  'pkg/sub/mod.py': [
    'from .. import util',
    'from ..util import Base as B',
    'def go():',
    '    util.helper(3)',
    '    B().run()',
  ].join('\n'),
  'main.py': [
    'from pkg.util import helper, Base',
    'import pkg.util as u',
    'def main():',
    '    helper(2)',
    '    u.helper(3)',
    '    Base()',
    'main()',
  ].join('\n'),
  'broken.py': 'def ok():\n    pass\ndef broken(:\n',
  'web/a.ts': [
    "import { b, C } from './b.js';",
    "import * as fs from 'node:fs';",
    "import def from './c';",
    'export function a(): number { return b() + new C().m() + def(); }',
    'const arrow = () => a();',
  ].join('\n'),
  'web/b.ts': [
    'export function b() { return 1; }',
    'export class C { m() { return this.n(); } n() { return b(); } }',
  ].join('\n'),
  'web/c.js': ["const lib = require('lib');", 'export default function main() { return lib.go(); }'].join('\n'),
  'node_modules/dep/index.js': 'export function nope() {}',
  'notes.txt': 'not code',
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'graph-parse-'));
  outside = mkdtempSync(join(tmpdir(), 'graph-parse-outside-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  writeFileSync(join(outside, 'secret.py'), 'def leaked():\n    pass\n');
  symlinkSync(join(outside, 'secret.py'), join(root, 'web', 'link.py'));
  symlinkSync(outside, join(root, 'linkdir'));
  writeFileSync(join(root, 'huge.py'), `x = 1\n${'# padding\n'.repeat(200)}`);
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const has = (g: GraphJSON, s: string, t: string, flag: string) =>
  g.edges.some((e) => e.source === s && e.target === t && e.attributes?.[flag] === true);

describe('parseRepository', () => {
  it('builds modules, classes and functions with contains, imports and calls edges', async () => {
    const { graph, report } = await parseRepository(root, { maxFileBytes: 1000 });
    const keys = new Set(graph.nodes.map((x) => x.key));
    for (const k of [
      'module:pkg/util.py',
      'class:pkg/util.py#Base',
      'function:pkg/util.py#Base.run',
      'function:pkg/util.py#Base.step.inner',
      'function:main.py#main',
      'module:web/a.ts',
      'function:web/a.ts#arrow',
      'class:web/b.ts#C',
      'function:web/b.ts#C.n',
      'function:web/c.js#main',
      'external:os',
      'external:node:fs',
      'external:lib',
    ]) {
      expect(keys, k).toContain(k);
    }
    expect(graph.nodes.find((x) => x.key === 'function:pkg/util.py#Base.run')?.attributes).toMatchObject({
      type: 'function',
      line: 5,
      language: 'python',
    });
    // contains
    expect(has(graph, 'module:pkg/util.py', 'class:pkg/util.py#Base', 'contains')).toBe(true);
    expect(has(graph, 'class:pkg/util.py#Base', 'function:pkg/util.py#Base.step', 'contains')).toBe(true);
    expect(has(graph, 'function:pkg/util.py#Base.step', 'function:pkg/util.py#Base.step.inner', 'contains')).toBe(true);
    // imports, including relative Python imports and TS '.js' specifiers
    expect(has(graph, 'module:main.py', 'module:pkg/util.py', 'imports')).toBe(true);
    expect(has(graph, 'module:pkg/sub/mod.py', 'module:pkg/__init__.py', 'imports')).toBe(true);
    expect(has(graph, 'module:pkg/sub/mod.py', 'module:pkg/util.py', 'imports')).toBe(true);
    expect(has(graph, 'module:web/a.ts', 'module:web/b.ts', 'imports')).toBe(true);
    expect(has(graph, 'module:web/a.ts', 'module:web/c.js', 'imports')).toBe(true);
    expect(has(graph, 'module:web/a.ts', 'external:node:fs', 'imports')).toBe(true);
    // calls across files, through aliases, self/this and default exports
    expect(has(graph, 'function:main.py#main', 'function:pkg/util.py#helper', 'calls')).toBe(true);
    expect(has(graph, 'function:main.py#main', 'class:pkg/util.py#Base', 'calls')).toBe(true);
    expect(has(graph, 'module:main.py', 'function:main.py#main', 'calls')).toBe(true);
    expect(has(graph, 'module:main.py', 'function:main.py#main', 'contains')).toBe(true);
    expect(has(graph, 'function:pkg/util.py#Base.run', 'function:pkg/util.py#Base.step', 'calls')).toBe(true);
    expect(has(graph, 'function:pkg/sub/mod.py#go', 'class:pkg/util.py#Base', 'calls')).toBe(true);
    expect(has(graph, 'function:web/a.ts#a', 'function:web/b.ts#b', 'calls')).toBe(true);
    expect(has(graph, 'function:web/a.ts#a', 'class:web/b.ts#C', 'calls')).toBe(true);
    expect(has(graph, 'function:web/a.ts#a', 'function:web/c.js#main', 'calls')).toBe(true);
    expect(has(graph, 'function:web/b.ts#C.m', 'function:web/b.ts#C.n', 'calls')).toBe(true);
    expect(has(graph, 'function:web/a.ts#arrow', 'function:web/a.ts#a', 'calls')).toBe(true);

    // never follows symlinks (the outside file is not read), skips big files, ignores node_modules
    expect([...keys].some((k) => k.includes('leaked') || k.includes('secret'))).toBe(false);
    expect([...keys].some((k) => k.includes('node_modules'))).toBe(false);
    expect(report.skipped).toEqual(
      expect.arrayContaining([
        { path: 'web/link.py', reason: 'symlink' },
        { path: 'linkdir', reason: 'symlink' },
        expect.objectContaining({ path: 'huge.py', reason: 'too-large' }),
      ]),
    );
    expect(report.syntaxErrors).toEqual(['broken.py']);
    expect(keys).toContain('function:broken.py#ok');
    expect(report.files).toBe(8);
    expect(report.resolvedCalls).toBeGreaterThan(10);
  });

  it('reports a missing root as an invalid argument', async () => {
    await expect(parseRepository(join(root, 'nope'))).rejects.toMatchObject({ code: 'GRAPH_INVALID_ARGUMENT' });
  });
});

describe('parseFile', () => {
  it('parses text in memory, choosing the grammar by extension', async () => {
    const tsx = await parseFile('view.tsx', {
      source: 'export function View() { return <div>{render()}</div>; }\nfunction render() { return 1; }',
    });
    expect(has(tsx.graph, 'function:view.tsx#View', 'function:view.tsx#render', 'calls')).toBe(true);
    const py = await parseFile('m.py', {
      source: 'class A:\n  def f(self):\n    return self.g()\n  def g(self):\n    pass\n',
    });
    expect(has(py.graph, 'function:m.py#A.f', 'function:m.py#A.g', 'calls')).toBe(true);
    await expect(parseFile('x.rb', { source: '' })).rejects.toMatchObject({ code: 'GRAPH_INVALID_ARGUMENT' });
  });

  it('reports an unreadable file instead of throwing', async () => {
    const r = await parseFile(join(root, 'missing.py'));
    expect(r.report.skipped).toEqual([expect.objectContaining({ path: 'missing.py', reason: 'unreadable' })]);
    expect(r.graph.nodes).toEqual([]);
  });
});
