// Import objects without prototypes: a module's import names reach only what the host put there, never Object's own.

/**
 * Copies each namespace's own enumerable properties into objects with a null prototype. WebAssembly linking reads
 * imports with a plain property get, so `env.constructor` on a `{}` finds Object and `toString` finds a function.
 */
export function importObject(namespaces: Readonly<Record<string, object>>): WebAssembly.Imports {
  const out = Object.create(null) as Record<string, Record<string, unknown>>;
  for (const [module, values] of Object.entries(namespaces)) {
    const ns = Object.create(null) as Record<string, unknown>;
    for (const [name, value] of Object.entries(values)) ns[name] = value;
    out[module] = ns;
  }
  return out as unknown as WebAssembly.Imports;
}
