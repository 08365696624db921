// HTTP for agents: requests to granted hosts only, with a method list, a response cap, a time limit and an SSRF guard.
//
// SSRF stance: a request goes out only if its host matches `allowedHosts` (exact, or `*.example.com` for any
// subdomain). The name is resolved once, here, and the connection goes to that address (undici's connect-time
// lookup), so a second, different DNS answer cannot slip in. Addresses that are loopback, private (RFC 1918,
// unique-local), link-local (cloud metadata), CGNAT, unspecified or multicast are refused, unless the list names
// that host exactly (a wildcard never reaches them): granting `127.0.0.1` or `localhost` is a deliberate choice.
// Redirects are followed by hand, at most five, and each target is checked like the first request.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import type { Agent } from 'undici';
import { importOptional } from '../queue/optional.ts';
import type { HostCallReply } from '../../host/host-call.ts';
import { grantError, type GrantContext } from './grants.ts';

export interface HttpGrant {
  /** Normalised host patterns: `example.com` or `*.example.com`. */
  hosts: string[];
  methods: string[];
  maxResponseBytes: number;
  timeoutMs: number;
}

export const HTTP_DEFAULTS = {
  methods: ['GET', 'HEAD', 'POST'],
  maxResponseBytes: 1024 * 1024,
  timeoutMs: 5000,
} as const;
const MAX_REDIRECTS = 5;
const HOST_PATTERN = /^(\*\.)?([a-z0-9-]+\.)*[a-z0-9-]+$|^\[?[0-9a-f:.]+\]?$/;

/** HTTP settings for the allowed hosts, as written in load options or sandbox.yaml. */
export interface HttpOptions {
  /** Default GET, HEAD, POST. */
  methods?: string[];
  /** Largest response body; a larger one is an error for the guest. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Per request, redirects included; never past what is left of the run's timeoutMs. Default 5000. */
  timeoutMs?: number;
}

const HTTP_FIELDS = new Set(['methods', 'maxResponseBytes', 'timeoutMs']);

export function resolveHttpGrant(hosts: unknown, rawOptions: unknown, context: GrantContext): HttpGrant {
  if (!Array.isArray(hosts)) throw grantError(context, 'allowedHosts', 'must be a list of host names');
  const normalised = hosts.map((h: unknown) => {
    if (typeof h !== 'string' || !HOST_PATTERN.test(h.toLowerCase())) {
      throw grantError(
        context,
        'allowedHosts',
        `names ${JSON.stringify(h)}, which is not a host name, an IP address or a *.wildcard`,
      );
    }
    return h.toLowerCase().replace(/^\[|\]$/g, '');
  });
  const options = (rawOptions ?? {}) as HttpOptions;
  if (typeof options !== 'object' || Array.isArray(options)) throw grantError(context, 'http', 'must be a map');
  for (const key of Object.keys(options)) {
    if (!HTTP_FIELDS.has(key))
      throw grantError(context, `http.${key}`, `is not an HTTP grant field (known: ${[...HTTP_FIELDS].join(', ')})`);
  }
  if (
    options.methods !== undefined &&
    (!Array.isArray(options.methods) || options.methods.some((m) => typeof m !== 'string'))
  ) {
    throw grantError(context, 'http.methods', 'must be a list of method names');
  }
  const methods = (options.methods ?? [...HTTP_DEFAULTS.methods]).map((m) => m.toUpperCase());
  const count = (name: keyof HttpOptions, value: unknown, fallback: number) => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
      throw grantError(context, `http.${name}`, `must be a positive integer, got ${JSON.stringify(value)}`);
    return value;
  };
  return {
    hosts: [...new Set(normalised)],
    methods,
    maxResponseBytes: count('maxResponseBytes', options.maxResponseBytes, HTTP_DEFAULTS.maxResponseBytes),
    timeoutMs: count('timeoutMs', options.timeoutMs, HTTP_DEFAULTS.timeoutMs),
  };
}

/** How a host matched the grant: exactly (may reach private addresses) or through a wildcard (may not). */
function match(grant: HttpGrant, host: string): 'exact' | 'wildcard' | null {
  if (grant.hosts.includes(host)) return 'exact';
  for (const pattern of grant.hosts) {
    if (pattern.startsWith('*.') && host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1)
      return 'wildcard';
  }
  return null;
}

/** Loopback, private, link-local, CGNAT, unspecified, multicast, and IPv4 mapped into IPv6: not for agents by default. */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return isInternalAddress(mapped[1]!);
  if (isIP(address) === 4) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      a >= 224
    );
  }
  const v6 = address.toLowerCase();
  return v6 === '::' || v6 === '::1' || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6) || v6.startsWith('ff');
}

interface Target {
  url: URL;
  address: string;
  family: number;
}

/** Checks a URL against the grant and resolves its host once; the connection then goes to exactly that address. */
async function resolveTarget(grant: HttpGrant, raw: string): Promise<Target | string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `${JSON.stringify(raw)} is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `only http and https URLs are allowed, not ${url.protocol}`;
  if (url.username || url.password) return 'URLs with credentials are not allowed';
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const how = match(grant, host);
  if (how === null) return `host ${host} is not in allowedHosts`;
  let address: string;
  let family: number;
  if (isIP(host)) {
    address = host;
    family = isIP(host);
  } else {
    try {
      ({ address, family } = await dnsLookup(host));
    } catch (error) {
      return `cannot resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    }
  }
  if (isInternalAddress(address) && how !== 'exact')
    return `host ${host} resolves to ${address}, an internal address; only a host listed exactly in allowedHosts may reach one`;
  return { url, address, family };
}

type Undici = typeof import('undici');
/** undici is an optional package, loaded on the first request (so the package root never loads node:http). */
let undici: Promise<Undici> | null = null;

function pinnedAgent({ Agent }: Undici, target: Target): Agent {
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all)
      (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address: target.address, family: target.family },
      ]);
    else callback(null, target.address, target.family);
  };
  return new Agent({ connect: { lookup }, connections: 1, pipelining: 0 });
}

export interface AgentHttpRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | null;
}

export interface AgentHttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/**
 * Makes an agent's request under its grant. Resolves to the response, or to `{error}` saying why it was refused or
 * failed; never rejects. The grant's timeoutMs bounds the whole exchange, redirects included; `runRemainingMs` is
 * what is left of the run's own clock: past it the run's watchdog ends the run as 'timeout', so the request is
 * only abandoned a little later, never answered early as an error.
 */
export async function agentHttp(
  grant: HttpGrant,
  request: AgentHttpRequest,
  runRemainingMs = Infinity,
): Promise<AgentHttpResponse | { error: string }> {
  const method = request.method.toUpperCase();
  if (!grant.methods.includes(method))
    return { error: `method ${method} is not allowed (allowed: ${grant.methods.join(', ')})` };
  undici ??= importOptional<Undici>('undici', 'HTTP for agents (allowedHosts)');
  let client: Undici;
  try {
    client = await undici;
  } catch (error) {
    undici = null;
    return { error: (error as Error).message };
  }
  const runBound = grant.timeoutMs > runRemainingMs;
  const signal = AbortSignal.timeout(Math.ceil(runBound ? Math.max(1, runRemainingMs) + 1000 : grant.timeoutMs));
  let url = request.url;
  let body = request.body;
  let currentMethod = method;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const target = await resolveTarget(grant, url);
    if (typeof target === 'string') return { error: hop === 0 ? target : `redirect refused: ${target}` };
    const dispatcher = pinnedAgent(client, target);
    try {
      const response = await client.fetch(target.url, {
        method: currentMethod,
        headers: request.headers,
        body: body ?? null,
        redirect: 'manual',
        signal,
        dispatcher,
      });
      if (response.status >= 300 && response.status < 400 && response.headers.has('location')) {
        await response.body?.cancel();
        url = new URL(response.headers.get('location')!, target.url).href;
        if (
          response.status === 303 ||
          ((response.status === 301 || response.status === 302) && currentMethod === 'POST')
        ) {
          currentMethod = 'GET';
          body = null;
        }
        continue;
      }
      const bytes = await readCapped(response.body, grant.maxResponseBytes);
      if (bytes === null)
        return { error: `the response body is larger than ${grant.maxResponseBytes} bytes (http.maxResponseBytes)` };
      const headers: Record<string, string> = {};
      response.headers.forEach((value, key) => (headers[key] = value));
      return { status: response.status, headers, body: bytes };
    } catch (error) {
      if (signal.aborted)
        return {
          error: runBound
            ? 'the run ran out of time waiting for the answer'
            : `no answer within ${grant.timeoutMs} ms (http.timeoutMs)`,
        };
      return { error: `request failed: ${(error as Error).message}` };
    } finally {
      void dispatcher.close();
    }
  }
  return { error: `more than ${MAX_REDIRECTS} redirects` };
}

async function readCapped(
  body: (AsyncIterable<Uint8Array> & { cancel(): Promise<void> }) | null,
  cap: number,
): Promise<Uint8Array | null> {
  if (body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > cap) {
      await body.cancel().catch(() => {});
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The reply to a worker's `http` host call. */
export async function httpReply(
  grant: HttpGrant | undefined,
  request: AgentHttpRequest,
  encode: (v: unknown) => Uint8Array,
  runRemainingMs?: number,
): Promise<HostCallReply> {
  if (!grant) return { error: 'this agent was granted no HTTP hosts (allowedHosts)' };
  try {
    const response = await agentHttp(grant, request, runRemainingMs);
    return 'error' in response ? response : { ok: encode(response) };
  } catch (error) {
    // A bug here must still answer the worker, which is asleep until it hears back.
    return { error: `request failed: ${(error as Error).message}` };
  }
}
