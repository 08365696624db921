// The WIT world component agents target (wit/agent.wit), and the check that a component targets it.
import { InvalidModule } from '../agent/outcome.ts';

export const WIT_PACKAGE = 'sandbox:agent@1.0.0';
/** The imported interface, as the component names it and as jco's generated code looks it up (without version). */
export const HOST_INTERFACE = 'sandbox:agent/host@1.0.0';
export const HOST_INTERFACE_KEY = 'sandbox:agent/host';

/** Every export the world allows, with its signature as wasm-tools prints it (parameter names are part of the type). */
export const WORLD_EXPORTS: Readonly<Record<string, { signature: string; required: boolean }>> = {
  handle: { signature: 'func(input: list<u8>) -> result<list<u8>, string>', required: true },
  init: { signature: 'func() -> result<_, string>', required: false },
};

/** What jco's transpiler reports about a component, plus the world wasm-tools printed for it. */
export interface ComponentInterface {
  imports: string[];
  exports: [string, 'function' | 'instance'][];
  wit: string;
}

/**
 * Throws InvalidModule unless the component imports at most our host interface and exports `handle` (and
 * optionally `init`) with exactly the world's signatures. The imported interface is matched by name and version:
 * a component built against another `sandbox:agent/host@1.0.0` fails at its first mismatched call instead.
 */
export function checkWorld(component: ComponentInterface): void {
  const worldHint = `component agents target world \`agent\` of wit/agent.wit (${WIT_PACKAGE}; docs/components.md)`;
  for (const name of component.imports) {
    if (name !== HOST_INTERFACE_KEY)
      throw new InvalidModule(`the component imports ${name}, which the host does not provide; ${worldHint}`);
  }
  const importLines = [...component.wit.matchAll(/^\s*import\s+([^:;\s]+:[^;]+);\s*$/gm)].map((m) => m[1]!.trim());
  for (const line of importLines) {
    if (line !== HOST_INTERFACE)
      throw new InvalidModule(`the component imports ${line}, which the host does not provide; ${worldHint}`);
  }
  const signatures = new Map<string, string>();
  for (const m of component.wit.matchAll(/^\s*export\s+([a-z0-9-]+)\s*:\s*(func\(.*\)(?:\s*->\s*.+)?)\s*;\s*$/gm)) {
    signatures.set(m[1]!, m[2]!.replace(/\s+/g, ' ').trim());
  }
  for (const [name, kind] of component.exports) {
    const expected = WORLD_EXPORTS[name];
    if (expected === undefined || kind !== 'function')
      throw new InvalidModule(
        `the component exports ${kind} \`${name}\`, which is not part of the world; ${worldHint}`,
      );
    const actual = signatures.get(name);
    if (actual !== expected.signature) {
      throw new InvalidModule(
        `the component's \`${name}\` is \`${actual ?? 'not a plain function'}\`; the world wants \`${expected.signature}\`; ${worldHint}`,
      );
    }
  }
  for (const [name, spec] of Object.entries(WORLD_EXPORTS)) {
    if (spec.required && !component.exports.some(([n]) => n === name))
      throw new InvalidModule(`the component does not export \`${name}\`; ${worldHint}`);
  }
}
