// What an agent may call on the host, resolved per agent from its load options or sandbox.yaml entry; default-deny.
import { SandboxError } from '../errors.ts';
import { resolveConfigGrant } from './config.ts';
import { resolveGraphGrant, type GraphGrant, type ResolvedGraphGrant } from './graph.ts';
import { resolveHostGrant, type HostFunctions } from './host-functions.ts';
import { resolveHttpGrant, type HttpGrant, type HttpOptions } from './http.ts';

/**
 * The abilities a load option (or a sandbox.yaml agent entry) may grant, one optional field each. An absent field
 * is not granted: the agent's call of that ability answers "not granted", never reaches the host's resource.
 */
export interface GrantOptions {
  /** The graph service (`new Sandbox({ graph })`): `true` for the data methods in the agent's own namespace. */
  graph?: GraphGrant | true;
  /** Host functions by name: `sandbox.call` for guest ABI v1 agents, `extism:host/user` imports for Extism plugins. */
  host?: HostFunctions;
  /** Read-only strings (Extism `config_get`; listed by name in `sandbox.grants`). */
  config?: Record<string, string>;
  /** Hosts the agent may reach over HTTP (Extism `http_request`): exact (`api.example.com`) or `*.example.com`. */
  allowedHosts?: string[];
  /** For the allowed hosts: methods, response byte cap and time limit. */
  http?: HttpOptions;
}

/** The checked, complete grants of one agent. */
export interface Grants {
  graph?: ResolvedGraphGrant;
  host?: HostFunctions;
  config?: Readonly<Record<string, string>>;
  http?: HttpGrant;
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

const granted = (raw: unknown) => raw !== undefined && raw !== null && raw !== false;

/**
 * Each ability's resolver: the grant-bearing options in, the checked grant out (throws SANDBOX_INVALID_OPTIONS), or
 * undefined when the options do not grant it.
 */
const ABILITIES: {
  [K in keyof Grants]-?: (options: Record<string, unknown>, context: GrantContext) => Grants[K] | undefined;
} = {
  graph: (o, context) => (granted(o.graph) ? resolveGraphGrant(o.graph, context) : undefined),
  host: (o, context) => (granted(o.host) ? resolveHostGrant(o.host, context) : undefined),
  config: (o, context) => (granted(o.config) ? resolveConfigGrant(o.config, context) : undefined),
  http: (o, context) => {
    if (!granted(o.allowedHosts)) {
      if (granted(o.http)) throw grantError(context, 'http', 'sets HTTP limits but no allowedHosts grants any host');
      return undefined;
    }
    return resolveHttpGrant(o.allowedHosts, o.http, context);
  },
};

/** The option and YAML keys that are grants. */
export const GRANT_KEYS = ['graph', 'host', 'config', 'allowedHosts', 'http'] as const;

/**
 * Validates the grant fields of `options` (other fields are ignored: load options carry limits, names, ...).
 * Unknown values of a known key are errors; a missing key grants nothing.
 */
export function resolveGrants(options: Record<string, unknown>, context: GrantContext): Grants {
  const grants: Grants = {};
  for (const key of Object.keys(ABILITIES) as (keyof Grants)[]) {
    const grant = ABILITIES[key](options, context);
    if (grant !== undefined) (grants as Record<string, unknown>)[key] = grant;
  }
  return grants;
}

/** What a guest sees when it asks for its grants (`sandbox.grants`): names only, never values or functions. */
export function describeGrants(grants: Grants): { host: string[]; config: string[]; http: string[]; graph: boolean } {
  return {
    host: Object.keys(grants.host ?? {}).sort(),
    config: Object.keys(grants.config ?? {}).sort(),
    http: grants.http?.hosts ?? [],
    graph: grants.graph !== undefined,
  };
}

/** A SANDBOX_INVALID_OPTIONS error that says where the bad grant was written. */
export function grantError(context: GrantContext, field: string, problem: string): SandboxError {
  return new SandboxError('SANDBOX_INVALID_OPTIONS', `${context.where}: ${field} ${problem}`);
}
