// HTTP for agents (Extism `http_request`): allowedHosts, methods, response cap, time limits, redirects, SSRF stance.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from '@bytecodealliance/jco';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { isInternalAddress } from '../../runtime/capabilities/http.ts';

// A plugin whose input is Extism's request JSON {url, method, headers}: `fetch` outputs the body, `status` the code.
const HTTP_PLUGIN = `(module
  (import "extism:host/env" "input_offset" (func $input_offset (result i64)))
  (import "extism:host/env" "http_request" (func $http_request (param i64 i64) (result i64)))
  (import "extism:host/env" "http_status_code" (func $http_status_code (result i32)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (func (export "fetch") (result i32)
    (local $r i64)
    (local.set $r (call $http_request (call $input_offset) (i64.const 0)))
    (if (i64.eqz (local.get $r)) (then (return (i32.const 1))))
    (call $output_set (local.get $r) (call $length (local.get $r)))
    (i32.const 0))
  (func (export "status") (result i32)
    (local $b i64)
    (drop (call $http_request (call $input_offset) (i64.const 0)))
    (local.set $b (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $b) (i64.extend_i32_u (call $http_status_code)))
    (call $output_set (local.get $b) (i64.const 8))
    (i32.const 0)))`;

let plugin: Uint8Array;
let server: Server;
let base: string;
let port: number;
const sandbox = new Sandbox({ workers: 1 });

beforeAll(async () => {
  plugin = await parse(HTTP_PLUGIN);
  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/hello') {
      res.end(`hello ${req.method}`);
      return;
    }
    if (url.pathname === '/big') {
      res.end('x'.repeat(10_000));
      return;
    }
    if (url.pathname === '/missing') {
      res.statusCode = 404;
      res.end('no');
      return;
    }
    if (url.pathname === '/redirect-in') {
      res.writeHead(302, { location: '/hello' });
      res.end();
      return;
    }
    if (url.pathname === '/redirect-out') {
      // Same server, but by a name the grant does not list.
      res.writeHead(302, { location: `http://localhost:${port}/hello` });
      res.end();
      return;
    }
    if (url.pathname === '/slow') {
      setTimeout(() => res.end('late'), 3000).unref();
      return;
    }
    res.statusCode = 500;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await sandbox.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const request = (url: string, method = 'GET') => JSON.stringify({ url, method, headers: {} });
const text = (bytes: unknown) => new TextDecoder().decode(bytes as Uint8Array);

describe('HTTP for Extism plugins', () => {
  it('gets a page from a host listed exactly, loopback included, and reports the status code', async () => {
    const agent = await sandbox.load(plugin, { abi: 'extism', allowedHosts: ['127.0.0.1'] });
    const r = await agent.call('fetch', request(`${base}/hello`));
    expect(r.status, r.message).toBe('ok');
    expect(text(r.output)).toBe('hello GET');
    const status = await agent.call('status', request(`${base}/missing`));
    expect(
      new DataView((status.output as Uint8Array).buffer, (status.output as Uint8Array).byteOffset).getBigUint64(
        0,
        true,
      ),
    ).toBe(404n);
    // A redirect to a host on the list is followed.
    expect(text((await agent.call('fetch', request(`${base}/redirect-in`))).output)).toBe('hello GET');
    agent.close();
  });

  it('refuses a host that is not on the list, and every request without allowedHosts', async () => {
    const listed = await sandbox.load(plugin, { abi: 'extism', allowedHosts: ['api.example.com'] });
    const r = await listed.call('fetch', request(`${base}/hello`));
    expect(r.status).toBe('error');
    expect(r.message).toContain('host 127.0.0.1 is not in allowedHosts');
    const none = await sandbox.load(plugin, { abi: 'extism' });
    const n = await none.call('fetch', request(`${base}/hello`));
    expect(n.status).toBe('error');
    expect(n.message).toContain('granted no HTTP hosts');
    listed.close();
    none.close();
  });

  it('does not follow a redirect to a host off the list', async () => {
    const agent = await sandbox.load(plugin, { abi: 'extism', allowedHosts: ['127.0.0.1'] });
    const r = await agent.call('fetch', request(`${base}/redirect-out`));
    expect(r.status).toBe('error');
    expect(r.message).toContain('redirect refused: host localhost is not in allowedHosts');
    agent.close();
  });

  it('refuses a method not granted and a response past the byte cap', async () => {
    const agent = await sandbox.load(plugin, {
      abi: 'extism',
      allowedHosts: ['127.0.0.1'],
      http: { methods: ['GET'], maxResponseBytes: 1000 },
    });
    const post = await agent.call('fetch', request(`${base}/hello`, 'POST'));
    expect(post.status).toBe('error');
    expect(post.message).toContain('method POST is not allowed');
    const big = await agent.call('fetch', request(`${base}/big`));
    expect(big.status).toBe('error');
    expect(big.message).toContain('larger than 1000 bytes');
    agent.close();
  });

  it("counts requests and response bytes against the run's host-call caps", async () => {
    const agent = await sandbox.load(plugin, {
      abi: 'extism',
      allowedHosts: ['127.0.0.1'],
      limits: { hostCallBytes: 5000 },
    });
    const big = await agent.call('fetch', request(`${base}/big`));
    expect(big.status).toBe('limit-exceeded');
    expect(big.message).toContain('hostCallBytes');
    expect((await agent.call('fetch', request(`${base}/hello`))).status).toBe('ok');
    agent.close();
  });

  it("a slow server: the grant's time limit is an error for the plugin; past the run's timeout the run is 'timeout'", async () => {
    const limited = await sandbox.load(plugin, {
      abi: 'extism',
      allowedHosts: ['127.0.0.1'],
      http: { timeoutMs: 200 },
      limits: { timeoutMs: 5000 },
    });
    const r = await limited.call('fetch', request(`${base}/slow`));
    expect(r.status).toBe('error');
    expect(r.message).toContain('no answer within 200 ms');
    limited.close();
    const run = await sandbox.load(plugin, { abi: 'extism', allowedHosts: ['127.0.0.1'], limits: { timeoutMs: 300 } });
    const t = await run.call('fetch', request(`${base}/slow`));
    expect(t.status).toBe('timeout');
    run.close();
  });

  it('checks grants at load: a bad host pattern, http without allowedHosts, HTTP inline', async () => {
    await expect(sandbox.load(plugin, { abi: 'extism', allowedHosts: ['http://x/'] })).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_OPTIONS',
    });
    await expect(sandbox.load(plugin, { abi: 'extism', http: { timeoutMs: 5 } })).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_OPTIONS',
    });
    await expect(
      sandbox.load(plugin, { abi: 'extism', allowedHosts: ['127.0.0.1'], isolation: 'inline' }),
    ).rejects.toMatchObject({ code: 'SANDBOX_INVALID_OPTIONS' });
  });
});

describe('the SSRF guard', () => {
  it('knows loopback, private, link-local, CGNAT, unspecified and multicast addresses, and mapped IPv4', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
    ]) {
      expect(isInternalAddress(a), a).toBe(true);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])
      expect(isInternalAddress(a), a).toBe(false);
  });
});
