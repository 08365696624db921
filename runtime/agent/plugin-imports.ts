// The host side of one Extism plugin instance: its kernel, its user host functions and HTTP, capped per run.
import {
  EXTISM_ENV,
  EXTISM_USER,
  ExtismKernel,
  type KernelHooks,
  type KernelHttpRequest,
  type KernelHttpResponse,
} from '../../host/extism/kernel.ts';
import { userFunctionImports, type UserImport } from '../../host/extism/user-functions.ts';
import { HOST_CALL_FUEL, type HostCaller, type HostCallReply } from '../../host/host-call.ts';
import { HostFault, type RunContext } from '../../host/run-context.ts';
import type { Limits } from './types.ts';

/** An Extism plugin's side of an instance: its config, its user imports and how they reach the host. */
export interface PluginOptions {
  config: Readonly<Record<string, string>>;
  /** Bytes all vars may hold together. */
  maxVarBytes: number;
  user: UserImport[];
  /** Calls a granted host function (user imports) synchronously. */
  call: HostCaller;
  /** Answers `http_request`; absent when the agent was granted no hosts. */
  http?: KernelHooks['http'];
}

const utf8Lossy = new TextDecoder();

/**
 * Builds the `extism:host/env` and `extism:host/user` import namespaces of one instance. Every host function call
 * and HTTP request counts against the run's `maxHostCalls` and `hostCallBytes` and costs fuel like `sandbox.call`.
 */
export function pluginImports(
  plugin: PluginOptions,
  limits: Limits,
  ctx: () => RunContext,
  charge: (fuel: number) => void,
) {
  const kernel = new ExtismKernel(
    { config: plugin.config, maxBytes: limits.memoryBytes, maxVarBytes: plugin.maxVarBytes },
    {
      fault: (status, message) => {
        ctx().fail(status, message);
        return new HostFault(message);
      },
      log: (level, message) => {
        const c = ctx();
        if (typeof message === 'string') c.log(level, message);
        else if (c.admitLog(message.length)) c.logs.push({ level, message: utf8Lossy.decode(message) });
      },
      ...(plugin.http ? { http: (request: KernelHttpRequest) => httpCall(ctx(), plugin.http!, request, charge) } : {}),
    },
  );
  const user = userFunctionImports(
    plugin.user,
    kernel,
    (name, input) => hostCall(ctx(), plugin.call, name, input, charge),
    (name, message) => {
      const text = `host function ${name} failed: ${message}`;
      kernel.hostError ??= text;
      ctx().log('error', text);
    },
  );
  return { kernel, namespaces: { [EXTISM_ENV]: kernel.imports(), [EXTISM_USER]: user } };
}

/** Counts one host call of `sent` bytes against the run's caps, or stops the run as limit-exceeded. */
function admit(c: RunContext, what: string, sent: number): void {
  if (c.hostCalls >= c.limits.maxHostCalls) {
    c.fail(
      'limit-exceeded',
      `the plugin made more than ${c.limits.maxHostCalls} host calls in one run (limits.maxHostCalls)`,
    );
    throw new HostFault('host-call limit');
  }
  if (c.hostCallBytes + sent > c.limits.hostCallBytes) {
    c.fail(
      'limit-exceeded',
      `${what} sent ${sent} bytes, past the run's ${c.limits.hostCallBytes} bytes of host calls (limits.hostCallBytes)`,
    );
    throw new HostFault('host-call bytes');
  }
  c.hostCalls++;
  c.hostCallBytes += sent;
}

function received(c: RunContext, what: string, bytes: number): void {
  if (c.hostCallBytes + bytes > c.limits.hostCallBytes) {
    c.fail(
      'limit-exceeded',
      `${what} answered ${bytes} bytes, past the run's ${c.limits.hostCallBytes} bytes of host calls (limits.hostCallBytes)`,
    );
    throw new HostFault('host-call bytes');
  }
  c.hostCallBytes += bytes;
}

function hostCall(
  c: RunContext,
  call: HostCaller,
  name: string,
  input: Uint8Array,
  charge: (fuel: number) => void,
): HostCallReply {
  const what = `host function ${name}`;
  admit(c, what, input.length);
  const reply = call(name, input);
  if ('ok' in reply) received(c, what, reply.ok.length);
  charge(HOST_CALL_FUEL + input.length + ('ok' in reply ? reply.ok.length : 0));
  return reply;
}

function httpCall(
  c: RunContext,
  http: NonNullable<PluginOptions['http']>,
  request: KernelHttpRequest,
  charge: (fuel: number) => void,
): KernelHttpResponse {
  const sent = request.body?.length ?? 0;
  admit(c, 'http_request', sent);
  const response = http(request);
  const got = 'body' in response ? response.body.length : 0;
  if (got > 0) received(c, 'http_request', got);
  charge(HOST_CALL_FUEL + sent + got);
  return response;
}
