// Turns a component's bytes into jco's generated glue and the core modules it instantiates, checked and cached by content hash.
import { InvalidModule } from '../agent/outcome.ts';
import { SandboxError } from '../errors.ts';
import { hasWebAssembly } from '../engine/select.ts';
import { checkWorld } from './world.ts';

/** What a worker needs to run a component: jco's glue (an ES module exporting `instantiate`) and its core modules. */
export interface TranspiledComponent {
  /** Content hash of the component: with the limits, the worker's cache key. */
  hash: string;
  /** Source of the generated ES module; `instantiate(getCoreModule, imports, instantiateCore)` is its one entry. */
  js: string;
  /** The core modules by the file name the glue asks `getCoreModule` for, unmodified (the worker instruments them). */
  modules: [string, Uint8Array][];
  /** World exports the component has (`handle`, maybe `init`). */
  exports: string[];
}

const GLUE_NAME = 'component';
const CACHE_ENTRIES = 64;
const cache = new Map<string, Promise<TranspiledComponent>>();

interface JcoTranspile {
  transpileBytes(
    bytes: Uint8Array,
    options: Record<string, unknown>,
  ): Promise<{ files: Record<string, Uint8Array>; imports: string[]; exports: [string, 'function' | 'instance'][] }>;
}
interface JcoWasmTools {
  componentWit(bytes: Uint8Array): Promise<string>;
}

async function loadJco(): Promise<{ transpiler: JcoTranspile; tools: JcoWasmTools }> {
  try {
    const [transpiler, tools] = await Promise.all([
      import('@bytecodealliance/jco-transpile') as Promise<unknown> as Promise<JcoTranspile>,
      import('@bytecodealliance/jco-transpile/wasm-tools') as Promise<unknown> as Promise<JcoWasmTools>,
    ]);
    return { transpiler, tools };
  } catch (error) {
    throw new SandboxError(
      'SANDBOX_MISSING_DEPENDENCY',
      `running WebAssembly components needs @bytecodealliance/jco-transpile (npm install @bytecodealliance/jco-transpile): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Transpiles once per content hash. Rejects with InvalidModule when the bytes are not a component of our world.
 * jco's transpiler is itself WebAssembly (wasm-tools and js-component-bindgen compiled to wasm), so this needs
 * a process with WebAssembly; it reads the component's types and never runs the component's code.
 */
export function transpileComponent(bytes: Uint8Array, hash: string): Promise<TranspiledComponent> {
  if (!hasWebAssembly()) {
    return Promise.reject(
      new SandboxError(
        'SANDBOX_ENGINE_UNAVAILABLE',
        "running a component needs WebAssembly in this process: jco's transpiler is itself WebAssembly (is node running with --jitless?)",
      ),
    );
  }
  let entry = cache.get(hash);
  if (entry === undefined) {
    entry = transpileUncached(bytes, hash);
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(hash, entry);
    // A missing dependency is not a property of the bytes: let a later call try again.
    entry.catch((error: unknown) => {
      if (!(error instanceof InvalidModule)) cache.delete(hash);
    });
  }
  return entry;
}

async function transpileUncached(bytes: Uint8Array, hash: string): Promise<TranspiledComponent> {
  const { transpiler, tools } = await loadJco();
  let generated: Awaited<ReturnType<JcoTranspile['transpileBytes']>>;
  let wit: string;
  try {
    // 'sync' instantiation: the glue asks us for each core module and lets us instantiate it, so every module
    // passes through the instrumenter; no WASI shims (the world imports only our host interface).
    generated = await transpiler.transpileBytes(bytes, {
      name: GLUE_NAME,
      instantiation: 'sync',
      wasiShim: false,
      emitTypescriptDeclarations: false,
      base64Cutoff: 0,
      minify: false,
      optimize: false,
    });
    wit = await tools.componentWit(bytes);
  } catch (error) {
    throw new InvalidModule(`not a valid WebAssembly component: ${describe(error)}`);
  }
  checkWorld({ imports: generated.imports, exports: generated.exports, wit });
  const decoder = new TextDecoder();
  let js: string | undefined;
  const modules: [string, Uint8Array][] = [];
  for (const [name, content] of Object.entries(generated.files)) {
    if (name === `${GLUE_NAME}.js`) js = decoder.decode(content);
    else if (name.endsWith('.wasm')) modules.push([name, content]);
  }
  if (js === undefined)
    throw new InvalidModule(
      `jco produced no glue for this component (files: ${Object.keys(generated.files).join(', ')})`,
    );
  return { hash, js, modules, exports: generated.exports.map(([name]) => name) };
}

/** jco reports errors as objects whose message holds wasm-tools' explanation; keep the first lines. */
function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== 'Caused by:')
    .slice(0, 3)
    .join(': ');
}
