// Extism's host ABI (`extism:host/env`) in TypeScript: the kernel memory, input/output, error, config, vars, logs, HTTP.
//
// Extism plugins do not share their own linear memory with the host: they allocate blocks in a second memory the
// host owns (the "kernel") and move bytes with load/store calls. Here that memory is one growable byte array per
// plugin instance, used as a bump arena that is emptied at the start of every call; an address is an offset into
// it (0 is never a block, so it means "none"). Every address a plugin passes is checked against the bytes handed
// out so far; a bad one stops the call as an `abi-violation` (Extism's own SDK throws there too).
import { HostFault } from '../run-context.ts';

/** Names of the `extism:host/env` imports this kernel provides. */
export const EXTISM_ENV = 'extism:host/env';
export const EXTISM_USER = 'extism:host/user';

/** What the kernel needs from the run it serves. */
export interface KernelHooks {
  /** Records a misuse on the run and returns the fault to throw (the call stops). */
  fault(status: 'abi-violation' | 'limit-exceeded', message: string): HostFault;
  /** A log line: the plugin's own as bytes (admitted against the log caps before it is decoded), the host's as text. */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string | Uint8Array): void;
  /**
   * An HTTP request (`http_request`), answered synchronously: `{url, method, headers}` plus the body; resolves to
   * the response or an error message. Absent when the agent was granted no hosts.
   */
  http?: (request: KernelHttpRequest) => KernelHttpResponse;
}

export interface KernelHttpRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | null;
}

export type KernelHttpResponse =
  { status: number; headers: Record<string, string>; body: Uint8Array } | { error: string };

export interface KernelOptions {
  /** Read-only strings the plugin reads with `config_get`. */
  config: Readonly<Record<string, string>>;
  /** Upper bound of the kernel memory in bytes (blocks of one call). */
  maxBytes: number;
  /** Upper bound of all vars' values together, in bytes. */
  maxVarBytes: number;
}

const ALIGN = 8;
/** The first block starts here: 0 must never be a valid address. */
const FIRST = 8;

const utf8 = new TextDecoder('utf-8', { fatal: false });
const encoder = new TextEncoder();

export class ExtismKernel {
  private mem = new Uint8Array(64 * 1024);
  private view = new DataView(this.mem.buffer);
  /** End of the bytes handed out in this call: addresses at or past it are refused. */
  private top = FIRST;
  /** Block start → length, for `length` and for the calls that take a whole block (output, error, config, var, log). */
  private readonly blocks = new Map<number, number>();
  private inputAt = 0;
  private inputLength = 0;
  private outputAt = 0;
  private outputLength = -1;
  private errorAt = 0;
  /** A host function or HTTP call failed in this call: the call fails even if the plugin carries on. */
  hostError: string | null = null;
  private httpStatus = 0;
  private httpHeaders: Record<string, string> | null = null;
  /** Vars live as long as the instance (Extism's semantics): across calls, not across instances. */
  readonly vars = new Map<string, Uint8Array>();
  private varBytes = 0;

  constructor(
    private readonly options: KernelOptions,
    private readonly hooks: KernelHooks,
  ) {}

  /** Starts a call: empties the kernel memory and stores `input` as its first block. */
  begin(input: Uint8Array): void {
    this.blocks.clear();
    this.top = FIRST;
    this.outputAt = 0;
    this.outputLength = -1;
    this.errorAt = 0;
    this.hostError = null;
    this.httpStatus = 0;
    this.httpHeaders = null;
    this.inputLength = input.length;
    this.inputAt = this.store(input);
  }

  /** The bytes the plugin named with `output_set` (a copy), or null when it set none. */
  get output(): Uint8Array | null {
    if (this.outputLength < 0) return null;
    return this.mem.slice(this.outputAt, this.outputAt + this.outputLength);
  }

  /** The text the plugin named with `error_set`, or a host-side failure, or null. */
  get error(): string | null {
    if (this.errorAt !== 0) {
      const bytes = this.read(this.errorAt);
      return bytes === null ? 'the plugin set an error and then freed its text' : utf8.decode(bytes);
    }
    return this.hostError;
  }

  /** Bytes handed out this call (for the memory figure of a run). */
  get usedBytes(): number {
    return this.top;
  }

  /** Copies bytes into a new block; returns its address, 0 when the kernel memory is full. */
  store(bytes: Uint8Array): number {
    const at = this.alloc(bytes.length);
    if (at !== 0) this.mem.set(bytes, at);
    return at;
  }

  /** The bytes of the block that starts at `at` (a view until the next call). */
  read(at: number): Uint8Array | null {
    const length = this.blocks.get(at);
    return length === undefined ? null : this.mem.subarray(at, at + length);
  }

  /** Reserves `n` bytes; 0 when that would pass the kernel's byte cap. */
  alloc(n: number): number {
    const at = this.top;
    const end = at + n;
    if (!Number.isSafeInteger(end) || end > this.options.maxBytes) return 0;
    if (end > this.mem.length) this.grow(end);
    this.blocks.set(at, n);
    this.top = (end + ALIGN - 1) & ~(ALIGN - 1);
    return at;
  }

  private grow(atLeast: number): void {
    let size = this.mem.length * 2;
    while (size < atLeast) size *= 2;
    const next = new Uint8Array(Math.min(size, Math.max(atLeast, this.options.maxBytes)));
    next.set(this.mem.subarray(0, this.top));
    this.mem = next;
    this.view = new DataView(next.buffer);
  }

  private block(at: number, call: string): Uint8Array {
    const bytes = this.read(at);
    if (bytes === null)
      throw this.hooks.fault('abi-violation', `${call}(${at}) does not name a block of Extism kernel memory`);
    return bytes;
  }

  private address(addr: bigint, size: number, call: string): number {
    const at = Number(addr);
    if (at < FIRST || at + size > this.top) {
      throw this.hooks.fault(
        'abi-violation',
        `${call}(${addr}) is outside the ${this.top} bytes of Extism kernel memory allocated in this call`,
      );
    }
    return at;
  }

  /** An offset into the input, or -1 past its end (those bytes read as zero: the kernel's own memory, not the host's). */
  private inputIndex(offset: bigint): number {
    const at = Number(offset);
    return at >= 0 && at < this.inputLength ? at : -1;
  }

  private setVar(key: string, value: Uint8Array | null): void {
    const old = this.vars.get(key)?.length ?? 0;
    const next = this.varBytes - old + (value?.length ?? 0);
    if (value !== null && next > this.options.maxVarBytes) {
      throw this.hooks.fault(
        'limit-exceeded',
        `var_set(${JSON.stringify(key)}) would hold ${next} bytes of vars; the limit is ${this.options.maxVarBytes}`,
      );
    }
    this.varBytes = next;
    if (value === null) this.vars.delete(key);
    else this.vars.set(key, value);
  }

  /** Replaces all vars (a restored snapshot). */
  restoreVars(vars: Iterable<[string, Uint8Array]>): void {
    this.vars.clear();
    this.varBytes = 0;
    for (const [k, v] of vars) this.setVar(k, v);
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', addr: bigint): void {
    const at = Number(addr);
    const bytes = this.block(at, `log_${level}`);
    this.hooks.log(level, bytes);
    this.blocks.delete(at);
  }

  private http(requestAddr: bigint, bodyAddr: bigint): bigint {
    const raw = this.block(Number(requestAddr), 'http_request');
    let request: { url?: unknown; method?: unknown; headers?: unknown };
    try {
      request = JSON.parse(utf8.decode(raw)) as typeof request;
    } catch {
      throw this.hooks.fault('abi-violation', 'http_request: the request is not JSON {url, method, headers}');
    }
    if (typeof request !== 'object' || request === null || typeof request.url !== 'string') {
      throw this.hooks.fault('abi-violation', 'http_request: the request has no string `url`');
    }
    const body = bodyAddr === 0n ? null : this.block(Number(bodyAddr), 'http_request').slice();
    const headers: Record<string, string> = {};
    if (typeof request.headers === 'object' && request.headers !== null) {
      for (const [k, v] of Object.entries(request.headers)) headers[k] = String(v);
    }
    const method = typeof request.method === 'string' ? request.method.toUpperCase() : 'GET';
    const fail = (message: string): bigint => {
      this.httpStatus = 0;
      this.httpHeaders = null;
      this.hostError ??= message;
      this.hooks.log('error', message);
      return 0n;
    };
    if (!this.hooks.http)
      return fail(`http_request to ${request.url}: this agent was granted no HTTP hosts (allowedHosts)`);
    const response = this.hooks.http({ url: request.url, method, headers, body });
    if ('error' in response) return fail(`http_request to ${request.url}: ${response.error}`);
    this.httpStatus = response.status;
    this.httpHeaders = response.headers;
    const at = this.store(response.body);
    if (at === 0 && response.body.length > 0)
      return fail(
        `http_request to ${request.url}: the response of ${response.body.length} bytes does not fit in the kernel memory`,
      );
    return BigInt(at);
  }

  /** The `extism:host/env` import object. */
  imports(): Record<string, (...args: never[]) => unknown> {
    return {
      alloc: (n: bigint): bigint => BigInt(this.alloc(Number(n))),
      free: (addr: bigint): void => {
        const at = Number(addr);
        const length = this.blocks.get(at);
        if (length === undefined) return;
        this.blocks.delete(at);
        // The last block handed out can be taken back at once; others wait for the end of the call.
        if (((at + length + ALIGN - 1) & ~(ALIGN - 1)) === this.top) this.top = at;
      },
      length: (addr: bigint): bigint => BigInt(this.blocks.get(Number(addr)) ?? 0),
      length_unsafe: (addr: bigint): bigint => BigInt(this.blocks.get(Number(addr)) ?? 0),
      load_u8: (addr: bigint): number => this.mem[this.address(addr, 1, 'load_u8')]!,
      load_u64: (addr: bigint): bigint => this.view.getBigUint64(this.address(addr, 8, 'load_u64'), true),
      store_u8: (addr: bigint, value: number): void => {
        this.mem[this.address(addr, 1, 'store_u8')] = value;
      },
      store_u64: (addr: bigint, value: bigint): void => {
        this.view.setBigUint64(this.address(addr, 8, 'store_u64'), value, true);
      },
      input_offset: (): bigint => BigInt(this.inputAt),
      input_length: (): bigint => BigInt(this.inputLength),
      // Plugins read their input a word at a time and may read past its end (Extism's native kernel lets them):
      // such bytes read as zero.
      input_load_u8: (offset: bigint): number => {
        const i = this.inputIndex(offset);
        return i < 0 ? 0 : this.mem[this.inputAt + i]!;
      },
      input_load_u64: (offset: bigint): bigint => {
        const i = this.inputIndex(offset);
        if (i < 0) return 0n;
        if (i + 8 <= this.inputLength) return this.view.getBigUint64(this.inputAt + i, true);
        // The last word of an input whose length is not a multiple of 8: the bytes past its end read as zero.
        let word = 0n;
        for (let k = this.inputLength - 1; k >= i; k--) word = (word << 8n) | BigInt(this.mem[this.inputAt + k]!);
        return word;
      },
      output_set: (addr: bigint, length: bigint): void => {
        const at = this.address(addr, 0, 'output_set');
        const n = Number(length);
        if (n < 0 || at + n > this.top)
          throw this.hooks.fault('abi-violation', `output_set(${addr}, ${length}) is outside the Extism kernel memory`);
        this.outputAt = at;
        this.outputLength = n;
      },
      error_set: (addr: bigint): void => {
        const at = Number(addr);
        if (at !== 0) this.block(at, 'error_set');
        this.errorAt = at;
      },
      error_get: (): bigint => BigInt(this.errorAt),
      config_get: (addr: bigint): bigint => {
        const at = Number(addr);
        const key = utf8.decode(this.block(at, 'config_get'));
        this.blocks.delete(at);
        const value = Object.hasOwn(this.options.config, key) ? this.options.config[key] : undefined;
        return value === undefined ? 0n : BigInt(this.store(encoder.encode(value)));
      },
      var_get: (addr: bigint): bigint => {
        const at = Number(addr);
        const key = utf8.decode(this.block(at, 'var_get'));
        this.blocks.delete(at);
        const value = this.vars.get(key);
        return value === undefined ? 0n : BigInt(this.store(value));
      },
      var_set: (keyAddr: bigint, valueAddr: bigint): void => {
        const key = utf8.decode(this.block(Number(keyAddr), 'var_set'));
        this.setVar(key, valueAddr === 0n ? null : this.block(Number(valueAddr), 'var_set').slice());
      },
      http_request: (requestAddr: bigint, bodyAddr: bigint): bigint => this.http(requestAddr, bodyAddr),
      http_status_code: (): number => this.httpStatus,
      http_headers: (): bigint =>
        this.httpHeaders === null ? 0n : BigInt(this.store(encoder.encode(JSON.stringify(this.httpHeaders)))),
      log_trace: (addr: bigint): void => this.log('debug', addr),
      log_debug: (addr: bigint): void => this.log('debug', addr),
      log_info: (addr: bigint): void => this.log('info', addr),
      log_warn: (addr: bigint): void => this.log('warn', addr),
      log_error: (addr: bigint): void => this.log('error', addr),
      // Every level reaches the run's logs (bounded by maxLogs), so the plugin need not filter.
      get_log_level: (): number => 0,
    };
  }
}

/** The names of `extism:host/env` functions a plugin may import. */
export const EXTISM_ENV_NAMES: ReadonlySet<string> = new Set(
  Object.keys(
    new ExtismKernel(
      { config: {}, maxBytes: 0, maxVarBytes: 0 },
      { fault: () => new HostFault(''), log: () => {} },
    ).imports(),
  ),
);
