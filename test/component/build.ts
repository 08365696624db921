// Components for the tests that are built on the spot: other worlds and wrong signatures, made with jco's API.
import { componentEmbed, componentNew, parse } from '@bytecodealliance/jco';
import { join } from 'node:path';
import { requireBuilt, repoRoot } from '../support/paths.ts';

export const componentPath = (name: string) => requireBuilt(join(repoRoot, 'components', 'build', `${name}.wasm`));

/** A core module in WAT plus a WIT world, made into a component exactly as scripts/build-agents.mjs does. */
export async function buildComponent(wat: string, witSource: string, world: string): Promise<Uint8Array> {
  const core = await parse(wat);
  return componentNew(await componentEmbed({ binary: core, witSource, world, stringEncoding: 'utf8' }));
}

/** A handler with a string in and a string out: a component, but not of our world. */
export function otherWorldComponent(packageName: string, world: string): Promise<Uint8Array> {
  const wit = `package ${packageName};\nworld ${world} {\n  export handle: func(input: string) -> string;\n}\n`;
  const wat = `(module
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
    (func (export "handle") (param i32 i32) (result i32)
      (i32.store (i32.const 0) (local.get 0))
      (i32.store (i32.const 4) (local.get 1))
      (i32.const 0)))`;
  return buildComponent(wat, wit, world);
}
