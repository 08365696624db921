// `sandbox new` + `sandbox build`: a scaffolded AssemblyScript or Rust project builds against the package's SDK and its agent runs.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { runCli } from '../support/cli.ts';
import { repoRoot } from '../support/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'sandbox-new-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** What `npm install` would give the project: this checkout as the package, and its AssemblyScript compiler. */
function linkDependencies(project: string): void {
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  symlinkSync(repoRoot, join(project, 'node_modules', 'wasm-agent-sandbox'), 'dir');
  symlinkSync(join(repoRoot, 'node_modules', 'assemblyscript'), join(project, 'node_modules', 'assemblyscript'), 'dir');
}

async function greet(wasm: string): Promise<unknown[]> {
  const sandbox = new Sandbox({ workers: 1 });
  try {
    const ok = await sandbox.run(wasm, { name: 'Ada' });
    const bad = await sandbox.run(wasm, { nom: 'Ada' });
    return [ok.status, ok.output, bad.status, /name/.test(bad.message ?? '')];
  } finally {
    await sandbox.close();
  }
}

const rustToolchain = existsSync('/usr/bin/cargo') || process.env['CI'] === 'true';

describe('sandbox new', () => {
  it('scaffolds an AssemblyScript agent that builds against wasm-agent-sandbox/assembly/sdk and runs', async () => {
    const r = await runCli(['new', 'hello-as'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const project = join(dir, 'hello-as');
    expect(readFileSync(join(project, 'assembly', 'index.ts'), 'utf8')).toContain(
      'from "wasm-agent-sandbox/assembly/sdk"',
    );
    expect(JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as unknown).toMatchObject({
      scripts: { test: 'wasm-agent-sandbox build && node --test test/' },
      devDependencies: {
        'wasm-agent-sandbox': expect.stringMatching(/^\^\d/) as unknown,
        assemblyscript: expect.any(String) as unknown,
      },
    });
    linkDependencies(project);
    const built = await runCli(['build', project, '--json']);
    expect(built.code, built.stdout + built.stderr).toBe(0);
    expect(await greet(join(project, 'build', 'hello-as.wasm'))).toEqual([
      'ok',
      { greeting: 'hello, Ada' },
      'error',
      true,
    ]);
  });

  it.skipIf(!rustToolchain)(
    'scaffolds a Rust agent whose Cargo.toml uses the SDK crate in the installed package, and runs',
    async () => {
      const r = await runCli(['new', 'hello-rs', '--lang', 'rust', '--package', 'file:../wasm-agent-sandbox.tgz'], {
        cwd: dir,
      });
      expect(r.code, r.stderr).toBe(0);
      const project = join(dir, 'hello-rs');
      expect(readFileSync(join(project, 'Cargo.toml'), 'utf8')).toContain(
        'sandbox-sdk = { path = "node_modules/wasm-agent-sandbox/agents/sdk" }',
      );
      expect(
        (JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { devDependencies: unknown })
          .devDependencies,
      ).toEqual({ 'wasm-agent-sandbox': 'file:../wasm-agent-sandbox.tgz' });
      linkDependencies(project);
      const built = await runCli(['build', project]);
      expect(built.code, built.stderr).toBe(0);
      expect(built.stderr).toMatch(/^built .*hello-rs\.wasm \(\d+\.\d KiB\) in \d+ ms\n$/);
      expect(await greet(join(project, 'build', 'hello-rs.wasm'))).toEqual([
        'ok',
        { greeting: 'hello, Ada' },
        'error',
        true,
      ]);
    },
  );

  it.each([
    [['new'], /which name/],
    [['new', 'Bad_Name'], /must start with a letter and hold only a-z, 0-9 and -/],
    [['new', 'x', '--lang', 'rsut'], /--lang must be as or rust, got "rsut" \(did you mean rust\?\)/],
    [['new', 'hello-as'], /hello-as exists and is not empty/],
    [['build', 'nowhere'], /nowhere is not a directory/],
    [['build', '.'], /has neither asconfig\.json \(AssemblyScript\) nor Cargo\.toml \(Rust\)/],
  ])('usage errors: %j', async (argv, message) => {
    const r = await runCli(argv, { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
