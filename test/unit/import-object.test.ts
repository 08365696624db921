// Unit: import objects the host builds have no prototype, so no import name links to Object's own members.

import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { emulator } from '../../runtime/engine/emulator/index.ts';
import type { WasmNamespace } from '../../runtime/engine/namespace.ts';
import { importObject } from '../../host/import-object.ts';
import { compileAgentModule } from '../../runtime/agent/guest.ts';
import { InvalidModule } from '../../runtime/agent/outcome.ts';

const engines: [string, WasmNamespace][] = [
  ['V8', WebAssembly as unknown as WasmNamespace],
  ['emulator', emulator as unknown as WasmNamespace],
];

const importing = async (wa: WasmNamespace, name: string): Promise<WebAssembly.Module> =>
  new wa.Module((await parse(`(module (import "env" "${name}" (func (result i32))))`)) as Uint8Array<ArrayBuffer>);

describe.each(engines)('importObject on %s', (_name, wa) => {
  it('links own functions and refuses names that only a prototype has', async () => {
    const own = importObject({ env: { answer: () => 42 } });
    const answer = await importing(wa, 'answer');
    expect(() => new wa.Instance(answer, own)).not.toThrow();
    for (const name of ['constructor', 'toString', 'valueOf', 'hasOwnProperty']) {
      const m = await importing(wa, name);
      // A plain object literal lets these link (which is why the host never passes one)...
      expect(() => new wa.Instance(m, { env: {} })).not.toThrow();
      // ...and the host's import object does not.
      expect(() => new wa.Instance(m, own), name).toThrow(wa.LinkError);
    }
    // A module namespace the host did not give is missing, not Object.prototype's.
    expect(() => new wa.Instance(answer, importObject({}))).toThrow(TypeError);
  });
});

describe.each(engines)('compileAgentModule on %s', (_name, wa) => {
  // The table of host imports was an object literal: a module named `constructor` found Object and threw a
  // TypeError (known.has is not a function) instead of refusing the module.
  it('refuses imports whose module or name only a prototype has, as InvalidModule', async () => {
    for (const [module, name] of [
      ['constructor', 'x'],
      ['__proto__', 'x'],
      ['toString', 'call'],
      ['sandbox', 'constructor'],
      ['env', 'toString'],
    ]) {
      const bytes = (await parse(`(module (import "${module}" "${name}" (func)))`)) as Uint8Array<ArrayBuffer>;
      expect(() => compileAgentModule(wa, bytes), `${module}.${name}`).toThrow(InvalidModule);
      expect(() => compileAgentModule(wa, bytes, 'command'), `${module}.${name} in a command`).toThrow(InvalidModule);
    }
  });
});
