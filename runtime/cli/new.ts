// `sandbox new <name> [--lang as|rust]`: writes a one-agent project that builds and tests with `npm test`.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { closest, parseCommandArgs, reportUsage, UsageError } from './args.ts';
import { EXIT_OK, type CliIO, type Command } from './io.ts';
import { template, type Lang } from './new-templates.ts';

export const NEW_HELP = `Usage: sandbox new <name> [--lang as|rust] [options]

Creates the directory <name> with one agent that greets by name, a test that runs it in the
sandbox, and a package.json whose \`npm test\` builds the agent and runs the test:

  cd <name> && npm install && npm test

  --lang <as|rust>        AssemblyScript (default) or Rust
  --package <spec>        how the project depends on wasm-agent-sandbox (default: ^<this version>;
                          e.g. file:../wasm-agent-sandbox-0.1.0.tgz for a packed build)
  --json                  print what was written as JSON

AssemblyScript imports the SDK from wasm-agent-sandbox/assembly/sdk and extends its asconfig.json.
Rust depends on the SDK crate inside the installed package (node_modules/wasm-agent-sandbox/agents/sdk);
it builds with Debian's cargo + libstd-rust-dev-wasm32 or a rustup toolchain with the
wasm32-unknown-unknown target (\`sandbox build\` picks one).`;

/** This package's version and the AssemblyScript it builds its own agents with (the scaffold asks for the same). */
function versions(): { version: string; asc: string } {
  for (const up of ['../..', '../../..']) {
    const file = new URL(`${up}/package.json`, import.meta.url);
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as {
      name?: string;
      version: string;
      devDependencies?: Record<string, string>;
    };
    if (pkg.name === 'wasm-agent-sandbox')
      return { version: pkg.version, asc: pkg.devDependencies?.['assemblyscript'] ?? '^0.28.0' };
  }
  return { version: '0.1.0', asc: '^0.28.0' };
}

export const scaffold: Command = (argv, io) => Promise.resolve(scaffoldSync(argv, io));

function scaffoldSync(argv: string[], io: CliIO): number {
  const parsed = parseCommandArgs(
    'new',
    argv,
    { lang: { type: 'string' }, package: { type: 'string' }, json: { type: 'boolean' } },
    NEW_HELP,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const json = values.json === true;
  try {
    if (positionals.length !== 1)
      throw new UsageError(
        positionals.length === 0
          ? 'which name? sandbox new <name>'
          : `one project at a time; got ${positionals.join(' ')}`,
      );
    const given = positionals[0]!;
    const dir = resolve(io.cwd, given);
    const name = given.split(/[\\/]/).filter(Boolean).at(-1) ?? '';
    // An npm package name and a Rust crate name at once: lower case, digits, dashes.
    if (!/^[a-z][a-z0-9-]{0,63}$/.test(name))
      throw new UsageError(
        `the name must start with a letter and hold only a-z, 0-9 and -, got ${JSON.stringify(name)}`,
      );
    const lang: string = values.lang ?? 'as';
    if (lang !== 'as' && lang !== 'rust') {
      const near = closest(values.lang ?? '', ['as', 'rust', 'assemblyscript']);
      throw new UsageError(
        `--lang must be as or rust, got ${JSON.stringify(values.lang)}${near === undefined ? '' : ` (did you mean ${near === 'assemblyscript' ? 'as' : near}?)`}`,
      );
    }
    if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`${given} exists and is not empty`);
    const { version, asc } = versions();
    const { files } = template(name, lang satisfies Lang, values.package ?? `^${version}`, asc);
    for (const [path, text] of Object.entries(files)) {
      const file = join(dir, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    const written = Object.keys(files).sort();
    if (json) {
      io.stdout.write(`${JSON.stringify({ dir, lang, files: written })}\n`);
    } else {
      io.stdout.write(
        `created ${relative(io.cwd, dir) || '.'} (${lang === 'as' ? 'AssemblyScript' : 'Rust'}): ${written.join(', ')}\n\n`,
      );
      io.stdout.write(`  cd ${given}\n  npm install\n  npm test\n`);
    }
    return EXIT_OK;
  } catch (error) {
    return reportUsage(
      'new',
      (error as Error).message,
      io,
      json,
      error instanceof UsageError ? 'SANDBOX_USAGE' : ((error as { code?: string }).code ?? 'SANDBOX_FAILED'),
    );
  }
}
