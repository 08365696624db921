// `sandbox build [dir]`: compiles a project made by `sandbox new` (AssemblyScript or Rust) to build/<name>.wasm.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseCommandArgs, reportUsage, UsageError } from './args.ts';
import { EXIT_FAILED, EXIT_OK, type CliIO, type Command } from './io.ts';

export const BUILD_HELP = `Usage: sandbox build [dir] [--json]

Builds the agent of a project made by 'sandbox new' (default: the current directory) into
build/<name>.wasm: an asconfig.json means AssemblyScript (the project's own asc), a Cargo.toml
means Rust (cargo build --release --target wasm32-unknown-unknown).

Rust needs a rustc with the wasm32-unknown-unknown standard library. The first of these that has it
is used: $CARGO with $RUSTC, the cargo and rustc on PATH (rustup: rustup target add
wasm32-unknown-unknown), Debian's /usr/bin/cargo with /usr/bin/rustc (apt-get install cargo
libstd-rust-dev-wasm32).

Exit codes: 0 built, 1 the compiler failed, 2 usage error or no usable compiler.`;

class BuildFailed extends Error {}

const TARGET = 'wasm32-unknown-unknown';

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): { ok: boolean; output: string } {
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8' });
  if (r.error !== undefined) return { ok: false, output: r.error.message };
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** A cargo whose rustc has the wasm32 standard library; a rustup cargo cannot drive Debian's rustc, so they go in pairs. */
function findCargo(env: Record<string, string | undefined>): { cargo: string; rustc: string } | undefined {
  const pairs: [string, string][] = [];
  if (env['CARGO'] !== undefined) pairs.push([env['CARGO'], env['RUSTC'] ?? 'rustc']);
  pairs.push(['cargo', 'rustc'], ['/usr/bin/cargo', '/usr/bin/rustc']);
  for (const [cargo, rustc] of pairs) {
    const sysroot = spawnSync(rustc, ['--print', 'sysroot'], { encoding: 'utf8' });
    if (sysroot.status !== 0) continue;
    if (!existsSync(join(sysroot.stdout.trim(), 'lib', 'rustlib', TARGET))) continue;
    if (spawnSync(cargo, ['--version'], { encoding: 'utf8' }).status === 0) return { cargo, rustc };
  }
  return undefined;
}

/**
 * A project built once with a current cargo holds a version 4 Cargo.lock, which cargo before 1.78 (Debian
 * bookworm's is 0.66) refuses to read. A project of `sandbox new` has no dependencies outside the package, so
 * the lock file records nothing that cannot be worked out again: it is removed, and said so.
 */
function dropNewerLockFile(dir: string, cargo: string, io: CliIO): void {
  const lock = join(dir, 'Cargo.lock');
  if (!existsSync(lock) || !/^version = 4$/m.test(readFileSync(lock, 'utf8'))) return;
  const minor = Number(
    /^cargo 1\.(\d+)\./.exec(spawnSync(cargo, ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 0,
  );
  // cargo 0.66 prints "cargo 1.65.0"; 1.78 is the first that reads version 4.
  if (minor >= 78) return;
  rmSync(lock);
  io.stderr.write(`removed Cargo.lock: it is a version 4 lock file, which ${cargo} cannot read\n`);
}

function buildRust(dir: string, name: string, io: CliIO): string {
  const toolchain = findCargo(io.env);
  if (toolchain === undefined) {
    throw new UsageError(
      `no Rust toolchain with the ${TARGET} target: run \`rustup target add ${TARGET}\`, or install Debian's (\`apt-get install cargo libstd-rust-dev-wasm32\`)`,
    );
  }
  dropNewerLockFile(dir, toolchain.cargo, io);
  const env = { ...process.env, ...io.env, RUSTC: toolchain.rustc } as NodeJS.ProcessEnv;
  const r = run(toolchain.cargo, ['build', '--release', '--target', TARGET], dir, env);
  if (!r.ok) throw new BuildFailed(`cargo build failed (${toolchain.cargo}, ${toolchain.rustc}):\n${r.output}`);
  const built = join(dir, 'target', TARGET, 'release', `${name.replace(/-/g, '_')}.wasm`);
  const out = join(dir, 'build', `${name}.wasm`);
  mkdirSync(join(dir, 'build'), { recursive: true });
  copyFileSync(built, out);
  return out;
}

function buildAssemblyScript(dir: string, name: string): string {
  const asc = join(dir, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
  if (!existsSync(asc)) throw new UsageError('assemblyscript is not installed in this project: run `npm install`');
  const out = join(dir, 'build', `${name}.wasm`);
  const r = run(
    process.execPath,
    [asc, 'assembly/index.ts', '--config', 'asconfig.json', '--target', 'release', '--outFile', out],
    dir,
  );
  if (!r.ok) throw new BuildFailed(`asc failed:\n${r.output}`);
  return out;
}

export const build: Command = (argv, io) => Promise.resolve(buildSync(argv, io));

function buildSync(argv: string[], io: CliIO): number {
  const parsed = parseCommandArgs('build', argv, { json: { type: 'boolean' } }, BUILD_HELP, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const json = values.json === true;
  const started = performance.now();
  try {
    if (positionals.length > 1) throw new UsageError(`one project at a time; got ${positionals.join(' ')}`);
    const dir = resolve(io.cwd, positionals[0] ?? '.');
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new UsageError(`${positionals[0] ?? '.'} is not a directory`);
    let name: string | undefined;
    if (existsSync(join(dir, 'package.json')))
      name = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name;
    let out: string;
    if (existsSync(join(dir, 'Cargo.toml'))) {
      name ??= /^name\s*=\s*"([^"]+)"/m.exec(readFileSync(join(dir, 'Cargo.toml'), 'utf8'))?.[1];
      if (name === undefined) throw new UsageError('Cargo.toml has no package name');
      out = buildRust(dir, name, io);
    } else if (existsSync(join(dir, 'asconfig.json'))) {
      if (name === undefined)
        throw new UsageError('package.json has no name (the agent is built as build/<name>.wasm)');
      out = buildAssemblyScript(dir, name);
    } else {
      throw new UsageError(
        `${positionals[0] ?? 'this directory'} has neither asconfig.json (AssemblyScript) nor Cargo.toml (Rust); 'sandbox new' makes such a project`,
      );
    }
    const ms = Math.round(performance.now() - started);
    const bytes = statSync(out).size;
    if (json) io.stdout.write(`${JSON.stringify({ output: out, bytes, durationMs: ms })}\n`);
    else io.stderr.write(`built ${relative(io.cwd, out)} (${(bytes / 1024).toFixed(1)} KiB) in ${ms} ms\n`);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof BuildFailed) {
      if (json)
        io.stdout.write(`${JSON.stringify({ error: { code: 'SANDBOX_BUILD_FAILED', message: error.message } })}\n`);
      else io.stderr.write(`sandbox build: ${error.message}\n`);
      return EXIT_FAILED;
    }
    return reportUsage('build', (error as Error).message, io, json);
  }
}
