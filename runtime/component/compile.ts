// Makes a transpiled component runnable in a worker: jco's glue as a function, every core module instrumented and compiled.
import { InvalidModule } from '../agent/outcome.ts';
import { prepareModule } from '../agent/prepare.ts';
import type { Limits } from '../agent/types.ts';
import type { WasmNamespace } from '../engine/namespace.ts';

/** jco's `instantiate` in 'sync' mode: returns the component's exports, or a promise of them if something suspended. */
export type GlueInstantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, Record<string, unknown>>,
  instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance,
) => unknown;

export interface CompiledComponent {
  instantiate: GlueInstantiate;
  /** Instrumented and compiled, by the name the glue asks for. */
  modules: Map<string, WebAssembly.Module>;
  exports: string[];
}

export interface ComponentSource {
  js: string;
  modules: [string, Uint8Array][];
  exports: string[];
}

const CACHE_ENTRIES = 32;
const cache = new Map<string, CompiledComponent>();

/** Compiles once per key (content hash + preparation options + engine). Throws InvalidModule. */
export function compileComponent(
  wa: WasmNamespace,
  key: string,
  source: ComponentSource,
  limits: Limits,
): CompiledComponent {
  let compiled = cache.get(key);
  if (compiled === undefined) {
    const modules = new Map<string, WebAssembly.Module>();
    for (const [name, bytes] of source.modules) {
      try {
        modules.set(name, new wa.Module(prepareModule(bytes, limits, wa) as Uint8Array<ArrayBuffer>));
      } catch (error) {
        if (error instanceof InvalidModule)
          throw new InvalidModule(`core module ${name} of the component: ${error.message}`);
        throw new InvalidModule(`core module ${name} of the component does not compile: ${(error as Error).message}`);
      }
    }
    compiled = { instantiate: glueFunction(source.js, wa), modules, exports: source.exports };
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(key, compiled);
  }
  return compiled;
}

/**
 * jco's glue is an ES module with two top-level exports and no imports ('sync' instantiation, no WASI shims).
 * Evaluated as a function body instead, its `WebAssembly` is the engine we hand it, and no module URL is created
 * per component. Anything else in its shape means a jco we have not checked: refuse rather than guess.
 */
function glueFunction(js: string, wa: WasmNamespace): GlueInstantiate {
  let body = js
    .replace(/^export function instantiate\(/m, 'function instantiate(')
    .replace(/^export const _util\b/m, 'const _util');
  if (/^\s*(import|export)\b/m.test(body) || !/^function instantiate\(/m.test(body)) {
    throw new InvalidModule(
      "jco's generated glue has a shape this host does not know (an import or another export); was @bytecodealliance/jco-transpile upgraded?",
    );
  }
  body = `"use strict";\n${body}\nreturn instantiate;`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the body is jco's generator output, not the component's
  return new Function('WebAssembly', body)(wa) as GlueInstantiate;
}
