// The files `sandbox new` writes: a one-agent project in AssemblyScript or Rust that builds and tests with `npm test`.

export type Lang = 'as' | 'rust';

export interface Template {
  /** Relative path → contents. */
  files: Record<string, string>;
}

const AS_AGENT = `// NAME: greets by name. Input {"name": string}; output {"greeting": string}.
import { handle, Input, log, output, Writer } from "wasm-agent-sandbox/assembly/sdk";
// The re-export is what makes this module a guest (guest ABI v1: docs/abi.md in wasm-agent-sandbox).
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "wasm-agent-sandbox/assembly/sdk";

const out = new Writer(); // reused by every run: the steady state allocates nothing

handle((input: Input): i32 => {
  const fields = input.fields();
  if (fields === null || !fields.has("name")) {
    log.error("NAME: input must be {name: string}"); // becomes the run's message
    return 1; // the run's errorCode; status "error"
  }
  output(out.reset().map(1).key("greeting").str("hello, " + fields.getString("name")));
  return 0;
});
`;

const RUST_AGENT = `//! NAME: greets by name. Input {"name": string}; output {"greeting": string}.
use sandbox_sdk::{agent, output, Error, Value};

fn handle(input: Value) -> Result<(), Error> {
    // A missing or mistyped field is an Err naming it: status "error" with that message.
    let name: String = input.field("name")?;
    output(&Value::map([("greeting", Value::from(format!("hello, {}", name)))]))?;
    Ok(())
}

agent!(handle);
`;

const TEST = `// Runs the agent the way a host does; \`npm test\` builds it first (wasm-agent-sandbox build).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Sandbox } from 'wasm-agent-sandbox';

const agent = fileURLToPath(new URL('../build/NAME.wasm', import.meta.url));
const sandbox = new Sandbox({ workers: 1, limits: { fuel: 10_000_000, timeoutMs: 1000 } });
after(() => sandbox.close());

test('greets by name', async () => {
  const result = await sandbox.run(agent, { name: 'Ada' });
  assert.equal(result.status, 'ok', result.message);
  assert.deepEqual(result.output, { greeting: 'hello, Ada' });
});

test('says what is wrong with an input without a name', async () => {
  const result = await sandbox.run(agent, { nom: 'Ada' });
  assert.equal(result.status, 'error');
  assert.match(result.message ?? '', /name/);
});
`;

function packageJson(name: string, lang: Lang, sdk: string, asc: string): string {
  const devDependencies: Record<string, string> = { 'wasm-agent-sandbox': sdk };
  if (lang === 'as') devDependencies['assemblyscript'] = asc;
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    description: `A wasm-agent-sandbox agent in ${lang === 'as' ? 'AssemblyScript' : 'Rust'}`,
    scripts: {
      build: 'wasm-agent-sandbox build',
      test: 'wasm-agent-sandbox build && node --test test/',
      run: `wasm-agent-sandbox run build/${name}.wasm`,
    },
    devDependencies,
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

function readme(name: string, lang: Lang): string {
  const source = lang === 'as' ? '`assembly/index.ts`' : '`src/lib.rs`';
  const needs =
    lang === 'as'
      ? 'Node 22+. The AssemblyScript SDK is imported from `wasm-agent-sandbox/assembly/sdk`; `asconfig.json` holds the\ncompiler options guests need (`exportStart: sandbox_init`, the incremental runtime).'
      : "Node 22+ and a Rust toolchain with the `wasm32-unknown-unknown` target: Debian's (`apt-get install cargo\nlibstd-rust-dev-wasm32`) or rustup's (`rustup target add wasm32-unknown-unknown`); `wasm-agent-sandbox build`\npicks whichever has the target. The SDK crate comes from the installed package\n(`node_modules/wasm-agent-sandbox/agents/sdk`).";
  return `# ${name}

A [wasm-agent-sandbox](https://www.npmjs.com/package/wasm-agent-sandbox) agent. The handler is in ${source}.

\`\`\`sh
npm install
npm test                                  # builds build/${name}.wasm and runs test/ against it
npm run run -- --input '{"name":"Ada"}'   # one run from the command line
\`\`\`

${needs}
`;
}

export function template(name: string, lang: Lang, sdk: string, asc: string): Template {
  const fill = (text: string) => text.replaceAll('NAME', name);
  const common = {
    'package.json': packageJson(name, lang, sdk, asc),
    'README.md': readme(name, lang),
    'test/agent.test.js': fill(TEST),
    '.gitignore': lang === 'as' ? 'node_modules/\nbuild/\n' : 'node_modules/\nbuild/\ntarget/\nCargo.lock\n',
  };
  if (lang === 'as') {
    return {
      files: {
        ...common,
        'assembly/index.ts': fill(AS_AGENT),
        // The SDK's own compiler options (exportStart: sandbox_init, the incremental runtime), kept in step with it.
        'asconfig.json': `${JSON.stringify({ extends: './node_modules/wasm-agent-sandbox/assembly/asconfig.json' }, null, 2)}\n`,
        'assembly/tsconfig.json': `${JSON.stringify({ extends: 'assemblyscript/std/assembly.json', include: ['./**/*.ts'] }, null, 2)}\n`,
      },
    };
  }
  const crate = name.replace(/-/g, '_');
  return {
    files: {
      ...common,
      'src/lib.rs': fill(RUST_AGENT),
      // No lock file is written: Debian's cargo 0.66 cannot read the v4 lock files current cargo writes.
      'Cargo.toml': `[package]
name = "${name}"
version = "0.1.0"
edition = "2021"

[lib]
name = "${crate}"
crate-type = ["cdylib"]
path = "src/lib.rs"

[dependencies]
sandbox-sdk = { path = "node_modules/wasm-agent-sandbox/agents/sdk" }

[profile.release]
opt-level = 3
panic = "abort"
strip = true
`,
    },
  };
}
