#!/usr/bin/env node
// Builds every example agent (AssemblyScript and Rust) into agents/build/ and every WAT fixture into fixtures/build/.
//
// Layout it discovers:
//   assembly/agents/<name>.ts      AssemblyScript agent      -> agents/build/<name>.wasm
//   agents/<name>/lib.rs           Rust agent (cdylib, wasm32-unknown-unknown, uses agents/sdk) -> agents/build/<name>.wasm
//   agents/<name>/main.rs          Rust WASI command (wasm32-wasi)                               -> agents/build/<name>.wasm
//   fixtures/<name>.wat            hostile / edge-case module, compiled with jco's `parse`        -> fixtures/build/<name>.wasm
//   fixtures/<name>.bin.mjs        a module that is not valid WAT (garbage, truncated): the script's default export returns the bytes
//   components/<name>.wat          core module of a component agent; jco's `parse`, `componentEmbed` (wit/agent.wit, the
//                                  world named by a `;; world: <name>` line, default `agent`) and `componentNew`
//                                                                                                 -> components/build/<name>.wasm
//
// Usage: npm run build:agents [-- --only as|rust|wat|components] [-- name ...]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const agentsOut = join(root, 'agents', 'build');
const fixturesOut = join(root, 'fixtures', 'build');
const componentsOut = join(root, 'components', 'build');

const args = process.argv.slice(2);
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? args[onlyIndex + 1] : undefined;
const names = args.filter((a, i) => !a.startsWith('--') && (onlyIndex < 0 || i !== onlyIndex + 1));
const wanted = (name) => names.length === 0 || names.includes(name);

const failures = [];
const built = [];

function fail(what, message) {
  failures.push(`${what}: ${message}`);
}

/** Debian's rustc has the wasm32 standard libraries; rustup's toolchain here does not. */
function findRustc() {
  const candidates = [process.env.SANDBOX_RUSTC, '/usr/bin/rustc', 'rustc'].filter(Boolean);
  for (const rustc of candidates) {
    const probe = spawnSync(rustc, ['--print', 'sysroot'], { encoding: 'utf8' });
    if (probe.status !== 0) continue;
    const sysroot = probe.stdout.trim();
    if (existsSync(join(sysroot, 'lib', 'rustlib', 'wasm32-unknown-unknown'))) return rustc;
  }
  return undefined;
}

const RUST_INSTALL_HINT =
  "no rustc with the wasm32 standard library was found. Install Debian's: " +
  '`sudo apt-get install -y rustc libstd-rust-dev-wasm32 lld` (or set SANDBOX_RUSTC to a rustc that has the wasm32-unknown-unknown and wasm32-wasi targets)';

async function buildAssemblyScript() {
  const dir = join(root, 'assembly', 'agents');
  if (!existsSync(dir)) return;
  const sources = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .filter(wanted);
  if (sources.length === 0) return;
  let asc;
  try {
    asc = (await import('assemblyscript/asc')).default;
  } catch (error) {
    fail('assemblyscript', `the compiler is not installed (${error.message}); run \`npm install\``);
    return;
  }
  for (const name of sources) {
    const out = join(agentsOut, `${name}.wasm`);
    const { error, stderr } = await asc.main(
      [
        join('assembly', 'agents', `${name}.ts`),
        '--outFile',
        out,
        '--config',
        join('assembly', 'asconfig.json'),
        '--target',
        'release',
      ],
      { stdout: { write() {} }, stderr: collect() },
    );
    if (error) fail(`${name} (AssemblyScript)`, `${error.message}\n${stderr.toString()}`);
    else built.push(out);
  }
}

function collect() {
  const chunks = [];
  return { write: (s) => chunks.push(String(s)), toString: () => chunks.join('') };
}

function buildRust() {
  const dir = join(root, 'agents');
  const crates = readdirSync(dir)
    .filter((d) => d !== 'sdk' && d !== 'build' && statSync(join(dir, d)).isDirectory())
    .filter((d) => existsSync(join(dir, d, 'lib.rs')) || existsSync(join(dir, d, 'main.rs')))
    .filter(wanted);
  if (crates.length === 0) return;
  const rustc = findRustc();
  if (!rustc) {
    fail('rust', RUST_INSTALL_HINT);
    return;
  }
  const tmp = join(agentsOut, '.rust');
  mkdirSync(tmp, { recursive: true });
  // --remap-path-prefix keeps this checkout's absolute path out of panic locations embedded in the .wasm.
  const common = [
    '--edition',
    '2021',
    '-C',
    'opt-level=3',
    '-C',
    'panic=abort',
    '-C',
    'debuginfo=0',
    '-C',
    'strip=symbols',
    `--remap-path-prefix=${root}/=`,
  ];
  const run = (what, argv) => {
    const r = spawnSync(rustc, argv, { encoding: 'utf8', cwd: root });
    if (r.error) fail(what, r.error.message);
    else if (r.status !== 0) fail(what, r.stderr || `rustc exited with ${r.status}`);
    return r.status === 0;
  };
  const sdkLib = join(dir, 'sdk', 'lib.rs');
  const sdkRlib = join(tmp, 'libsandbox_sdk.rlib');
  const needsSdk = crates.some((c) => existsSync(join(dir, c, 'lib.rs')));
  if (needsSdk && existsSync(sdkLib)) {
    if (
      !run('agents/sdk (Rust)', [
        ...common,
        '--target',
        'wasm32-unknown-unknown',
        '--crate-type',
        'rlib',
        '--crate-name',
        'sandbox_sdk',
        '-o',
        sdkRlib,
        sdkLib,
      ])
    )
      return;
  }
  for (const name of crates) {
    const out = join(agentsOut, `${name}.wasm`);
    const lib = join(dir, name, 'lib.rs');
    const ok = existsSync(lib)
      ? run(`${name} (Rust)`, [
          ...common,
          '--target',
          'wasm32-unknown-unknown',
          '--crate-type',
          'cdylib',
          '--crate-name',
          name.replace(/-/g, '_'),
          '--extern',
          `sandbox_sdk=${sdkRlib}`,
          '-L',
          tmp,
          '-o',
          out,
          lib,
        ])
      : run(`${name} (Rust WASI)`, [
          ...common,
          '--target',
          'wasm32-wasi',
          '--crate-type',
          'bin',
          '--crate-name',
          name.replace(/-/g, '_'),
          '-o',
          out,
          join(dir, name, 'main.rs'),
        ]);
    if (ok) built.push(out);
  }
}

async function buildFixtures() {
  const dir = join(root, 'fixtures');
  if (!existsSync(dir)) return;
  const files = readdirSync(dir).filter((f) => f.endsWith('.wat') || f.endsWith('.bin.mjs'));
  const todo = files.map((f) => ({ file: f, name: f.replace(/\.wat$|\.bin\.mjs$/, '') })).filter((f) => wanted(f.name));
  if (todo.length === 0) return;
  let parse;
  try {
    ({ parse } = await import('@bytecodealliance/jco'));
  } catch (error) {
    fail('fixtures', `@bytecodealliance/jco is not installed (${error.message}); run \`npm install\``);
    return;
  }
  mkdirSync(fixturesOut, { recursive: true });
  for (const { file, name } of todo) {
    const out = join(fixturesOut, `${name}.wasm`);
    try {
      const bytes = file.endsWith('.wat')
        ? await parse(readFileSync(join(dir, file), 'utf8'))
        : await (await import(pathToFileURL(join(dir, file)).href)).default();
      writeFileSync(out, bytes);
      built.push(out);
    } catch (error) {
      fail(`fixtures/${file}`, error.message);
    }
  }
}

/**
 * A component from a hand-written core module: `componentEmbed` attaches the world's types (as a custom section),
 * `componentNew` wraps the module into a component, adding the shim modules its imports need.
 */
async function buildComponents() {
  const dir = join(root, 'components');
  if (!existsSync(dir)) return;
  const todo = readdirSync(dir)
    .filter((f) => f.endsWith('.wat'))
    .map((f) => f.slice(0, -4))
    .filter(wanted);
  if (todo.length === 0) return;
  let jco;
  try {
    jco = await import('@bytecodealliance/jco');
  } catch (error) {
    fail('components', `@bytecodealliance/jco is not installed (${error.message}); run \`npm install\``);
    return;
  }
  // As a string: jco's `embed --wit <path>` cannot see files from inside its own WebAssembly (docs/components.md).
  const witSource = readFileSync(join(root, 'wit', 'agent.wit'), 'utf8');
  mkdirSync(componentsOut, { recursive: true });
  for (const name of todo) {
    const out = join(componentsOut, `${name}.wasm`);
    try {
      const wat = readFileSync(join(dir, `${name}.wat`), 'utf8');
      const world = /^;;\s*world:\s*([a-z][a-z0-9-]*)/m.exec(wat)?.[1] ?? 'agent';
      const core = await jco.parse(wat);
      const embedded = await jco.componentEmbed({ binary: core, witSource, world, stringEncoding: 'utf8' });
      writeFileSync(out, await jco.componentNew(embedded));
      built.push(out);
    } catch (error) {
      fail(`components/${name}.wat`, error.message);
    }
  }
}

mkdirSync(agentsOut, { recursive: true });
if (!only || only === 'as') await buildAssemblyScript();
if (!only || only === 'rust') buildRust();
if (!only || only === 'wat') await buildFixtures();
if (!only || only === 'components') await buildComponents();

for (const file of built) console.log(`built ${file.slice(root.length + 1)}`);
if (failures.length > 0) {
  for (const f of failures) console.error(`build:agents: ${f}`);
  process.exitCode = 1;
}
