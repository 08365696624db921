// What each agent may call on the host, resolved once at load from the sandbox's and the load's options. Default: nothing.
import { SandboxError } from '../errors.ts';
import { checkHostFunctions, type HostFunctions } from './host-functions.ts';
import { checkConfig } from './config.ts';
import { checkHttpGrant, type HttpGrant } from './http.ts';

/** The abilities granted to one agent; an absent field is an ability it does not have. */
export interface Grants {
  /** Host functions by name (`sandbox.call`, Extism `extism:host/user`). */
  host?: HostFunctions;
  /** Read-only strings (Extism `config_get`). */
  config?: Readonly<Record<string, string>>;
  /** HTTP requests to these hosts only (Extism `http_request`). */
  http?: HttpGrant;
}

/** The grant-bearing options, as they appear on SandboxOptions (for every agent) and LoadOptions (for one). */
export interface GrantOptions {
  host?: HostFunctions;
  config?: Record<string, string>;
  /** Host names an agent may reach over HTTP: exact (`api.example.com`) or a wildcard (`*.example.com`). */
  allowedHosts?: string[];
  /** HTTP methods, response cap and time limit for the allowed hosts. */
  http?: { methods?: string[]; maxResponseBytes?: number; timeoutMs?: number };
}

/** Sandbox-wide grants first, the load's on top (a load's host function of the same name wins). */
export function resolveGrants(sandbox: GrantOptions, load: GrantOptions): Grants {
  const grants: Grants = {};
  const host = { ...(sandbox.host && checkHostFunctions(sandbox.host, 'host')), ...(load.host && checkHostFunctions(load.host, 'host')) };
  if (Object.keys(host).length > 0) grants.host = host;
  const config = { ...(sandbox.config && checkConfig(sandbox.config)), ...(load.config && checkConfig(load.config)) };
  if (Object.keys(config).length > 0) grants.config = config;
  const allowedHosts = [...(sandbox.allowedHosts ?? []), ...(load.allowedHosts ?? [])];
  if (load.allowedHosts !== undefined && !Array.isArray(load.allowedHosts)) throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'allowedHosts must be an array of host names');
  if (allowedHosts.length > 0) grants.http = checkHttpGrant(allowedHosts, { ...sandbox.http, ...load.http });
  return grants;
}

/** What a guest sees when it asks for its grants (`sandbox.grants`): names only, never the values or functions. */
export function describeGrants(grants: Grants): { host: string[]; config: string[]; http: string[] } {
  return {
    host: Object.keys(grants.host ?? {}).sort(),
    config: Object.keys(grants.config ?? {}).sort(),
    http: grants.http?.hosts ?? [],
  };
}
