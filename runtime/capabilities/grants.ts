// What an agent may call on the host, resolved per agent from its load options or sandbox.yaml entry; default-deny.
import { SandboxError } from '../errors.ts';
import { resolveGraphGrant, type GraphGrant, type ResolvedGraphGrant } from './graph.ts';

/**
 * The abilities a load option (or a sandbox.yaml agent entry) may grant, one optional field each. An absent field
 * is not granted: the agent's call of that ability answers "not granted", never reaches the host's resource.
 */
export interface GrantOptions {
  /** The graph service (`new Sandbox({ graph })`): `true` for the data methods in the agent's own namespace. */
  graph?: GraphGrant | true;
}

/** The checked, complete grants of one agent. */
export interface Grants {
  graph?: ResolvedGraphGrant;
}

/** What resolving a grant needs from where it was written. */
export interface GrantContext {
  /** The namespace an agent gets when its grant names none (one per agent, or per topology entry). */
  defaultNamespace: string;
  /** Relative directories in a grant resolve against this (the process's cwd, or the sandbox.yaml's folder). */
  baseDir: string;
  /** Where the grant was written, for error messages ('load options', 'agents[2] (planner)'). */
  where: string;
}

/** Each ability's resolver: the raw value from options or YAML in, the checked grant out (throws SANDBOX_INVALID_OPTIONS). */
const ABILITIES: { [K in keyof Grants]-?: (raw: unknown, context: GrantContext) => NonNullable<Grants[K]> } = {
  graph: resolveGraphGrant,
};

/** The option and YAML keys that are grants. */
export const GRANT_KEYS = Object.keys(ABILITIES) as (keyof Grants)[];

/**
 * Validates the grant fields of `options` (other fields are ignored: load options carry limits, names, ...).
 * Unknown values of a known key are errors; a missing key grants nothing.
 */
export function resolveGrants(options: Record<string, unknown>, context: GrantContext): Grants {
  const grants: Grants = {};
  for (const key of GRANT_KEYS) {
    const raw = options[key];
    if (raw === undefined || raw === null || raw === false) continue;
    grants[key] = ABILITIES[key](raw, context);
  }
  return grants;
}

/** A SANDBOX_INVALID_OPTIONS error that says where the bad grant was written. */
export function grantError(context: GrantContext, field: string, problem: string): SandboxError {
  return new SandboxError('SANDBOX_INVALID_OPTIONS', `${context.where}: ${field} ${problem}`);
}
