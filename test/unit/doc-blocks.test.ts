// Every code block in README.md and docs/ is checked: TypeScript compiles against the sources, YAML and JSON parse (topologies load), shell lines use real commands and flags.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseTopology } from '../../runtime/swarm/topology.ts';
import { runCli } from '../support/cli.ts';
import { repoRoot } from '../support/paths.ts';

interface Block {
  where: string;
  lang: string;
  code: string;
  /** Hidden set-up from a `<!-- doc-test: ... -->` comment just above the block (declarations the prose implies). */
  prelude: string;
}

function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(repoRoot, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    let prelude = '';
    const above = lines.slice(0, start).join('\n');
    const comment = /<!-- doc-test:([\s\S]*?)-->\s*$/.exec(above);
    if (comment) prelude = comment[1]!.trim();
    blocks.push({ where: `${file}:${start + 1}`, lang: open[1]!, code: body.join('\n'), prelude });
  }
  return blocks;
}

const files = [
  'README.md',
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const blocks = files.flatMap(blocksOf);
const byLang = (...langs: string[]) => blocks.filter((b) => langs.includes(b.lang));

describe('code blocks in README.md and docs/', () => {
  it('has a checker for every language used', () => {
    // '' is prose (diagrams, wire layouts, sample output); 'wit' is compared with wit/agent.wit.
    expect(
      blocks
        .filter((b) => !['ts', 'sh', 'yaml', 'json', 'wit', ''].includes(b.lang))
        .map((b) => `${b.where} ${b.lang}`),
    ).toEqual([]);
  });

  it('compiles every TypeScript block against the package (as its users import it)', () => {
    const dir = join(repoRoot, '.scratch', 'doc-blocks');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const names: string[] = [];
    for (const b of byLang('ts')) {
      const name = `${b.where.replace(/[/:.]/g, '_')}.ts`;
      // Blocks import repository files relative to the root; the compiled copy sits two folders down.
      const code = `${b.prelude}\n${b.code}`.replace(/from '\.\//g, "from '../../");
      writeFileSync(join(dir, name), `// ${b.where}\nexport {};\n${code}\n`);
      names.push(name);
    }
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      exports: Record<string, { import: string } | string>;
    };
    const paths: Record<string, string[]> = {};
    for (const [subpath, entry] of Object.entries(pkg.exports)) {
      if (typeof entry === 'string') continue;
      paths[`wasm-agent-sandbox${subpath.slice(1)}`] = [
        `../../${entry.import.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')}`,
      ];
    }
    const base = JSON.parse(readFileSync(join(repoRoot, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: Record<string, unknown>;
    };
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          ...base.compilerOptions,
          noEmit: true,
          rootDir: '../..',
          paths,
          noUnusedLocals: false,
          noUnusedParameters: false,
        },
        files: names,
      }),
    );
    const tsc = spawnSync(
      process.execPath,
      [join(repoRoot, 'node_modules', 'typescript', 'lib', 'tsc.js'), '-p', join(dir, 'tsconfig.json')],
      { encoding: 'utf8' },
    );
    expect(tsc.stdout + tsc.stderr, 'tsc on the doc blocks').toBe('');
    expect(tsc.status).toBe(0);
  });

  it('parses every YAML block; complete topologies load', () => {
    for (const b of byLang('yaml')) {
      const doc = parseYaml(b.code) as Record<string, unknown> | null;
      expect(doc, b.where).toBeTypeOf('object');
      const agents = (doc?.['agents'] ?? []) as Record<string, unknown>[];
      // A fragment shows a few fields; a block whose agents name their module and topics is a whole topology.
      if (agents.length > 0 && agents.every((a) => 'module' in a && 'subscribe' in a)) {
        expect(
          () => parseTopology(b.code, { source: b.where, baseDir: join(repoRoot, 'examples') }),
          b.where,
        ).not.toThrow();
      }
    }
  });

  it('parses every JSON block (one value, or one per line)', () => {
    for (const b of byLang('json')) {
      const values = b.code.trim().startsWith('{') && b.code.includes('\n{') ? b.code.trim().split('\n') : [b.code];
      for (const v of values) expect(() => JSON.parse(v) as unknown, b.where).not.toThrow();
    }
  });

  it('shows the wit world as it is in wit/agent.wit', () => {
    const wit = readFileSync(join(repoRoot, 'wit', 'agent.wit'), 'utf8').replace(/\/\/.*$/gm, '');
    for (const b of byLang('wit'))
      expect(wit.replace(/\s+/g, ' '), b.where).toContain(b.code.replace(/\s+/g, ' ').trim());
  });

  it('uses only real sandbox commands and flags in shell blocks', async () => {
    const helps = new Map<string, string>();
    for (const b of byLang('sh')) {
      for (const line of b.code.split('\n')) {
        const m =
          /(?:^|\s)(?:npx )?(?:sandbox|wasm-agent-sandbox|node_modules\/\.bin\/sandbox) ([a-z][a-z-]*)(.*)$/.exec(
            line.replace(/#.*$/, ''),
          );
        if (!m || m[1] === 'install') continue;
        const [command, rest] = [m[1]!, m[2]!];
        const sub = command === 'graph' ? /^\s+([a-z]+)/.exec(rest)?.[1] : undefined;
        const key = sub ? `${command} ${sub}` : command;
        if (!helps.has(key)) {
          const help = await runCli(command === 'graph' ? ['graph', '--help'] : [command, '--help']);
          expect(help.code, `${b.where}: sandbox ${key} --help`).toBe(0);
          helps.set(key, help.stdout);
        }
        for (const flag of rest.match(/(?<=\s)--[a-z][a-z-]*/g) ?? []) {
          expect(helps.get(key), `${b.where}: ${line.trim()}: ${flag}`).toContain(flag);
        }
      }
    }
    expect(helps.size).toBeGreaterThanOrEqual(5);
  });
});
