// The in-process queue backend: zero dependencies, the full contract's semantics within one process, batched delivery.
import { SandboxError } from '../errors.ts';
import { Delivery, EMPTY_HEADERS, resolveSubscribeOptions, SubscriberCore, type DispatchHooks } from './dispatch.ts';
import { compilePattern, validateTopic, type TopicMatcher } from './topics.ts';
import type { MessageHandler, PublishMessage, QueueBackend, SubscribeOptions, Subscription } from './types.ts';

export interface MemoryQueueOptions {
  /** Messages a subscription (a group, shared by its members) may hold before publish waits (default 8192). */
  bufferSize?: number | undefined;
}

interface Route {
  pattern: string;
  matches: TopicMatcher;
  core: SubscriberCore;
}

const RESOLVED: Promise<void> = Promise.resolve();
const MAX_CACHED_TOPICS = 10_000;

export class MemoryQueue implements QueueBackend {
  readonly kind = 'memory' as const;
  private readonly bufferSize: number;
  /** Group name (or a private id) -> its route. */
  private readonly groups = new Map<string, Route>();
  /** Topic -> the cores it goes to; cleared whenever the set of subscriptions changes. */
  private routes = new Map<string, SubscriberCore[]>();
  private readonly subscriptions = new Set<MemorySubscription>();
  private privateIds = 0;
  private closing = false;
  private closed = false;
  private readonly hooks: DispatchHooks;

  constructor(options: MemoryQueueOptions = {}) {
    const size = options.bufferSize ?? 8192;
    if (!Number.isInteger(size) || size < 1) {
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `bufferSize must be a positive integer, got ${String(size)}`);
    }
    this.bufferSize = size;
    this.hooks = {
      kind: this.kind,
      done: () => {},
      redeliver: (d) => new Delivery(d.topic, d.payload, d.key, d.headers, d.deliveryCount + 1, undefined),
      // Dead letters skip the capacity check: waiting here could deadlock a subscriber that also consumes the
      // dead-letter topic, and dead letters are bounded by failures, not by publishers.
      deadLetter: (message) => {
        validateTopic(message.topic);
        this.enqueue(message, this.coresFor(message.topic));
        return RESOLVED;
      },
    };
  }

  private coresFor(topic: string): SubscriberCore[] {
    let cores = this.routes.get(topic);
    if (cores === undefined) {
      validateTopic(topic);
      cores = [];
      for (const route of this.groups.values()) if (route.matches(topic)) cores.push(route.core);
      if (this.routes.size >= MAX_CACHED_TOPICS) this.routes = new Map();
      this.routes.set(topic, cores);
    }
    return cores;
  }

  private enqueue(message: PublishMessage, cores: SubscriberCore[]): void {
    const headers = message.headers ?? EMPTY_HEADERS;
    for (let i = 0; i < cores.length; i++) {
      cores[i]!.offer(new Delivery(message.topic, message.payload, message.key, headers, 1, undefined));
    }
  }

  private fullCore(cores: SubscriberCore[]): SubscriberCore | undefined {
    for (let i = 0; i < cores.length; i++) if (!cores[i]!.hasRoom()) return cores[i];
    return undefined;
  }

  publish(message: PublishMessage): Promise<void> {
    if (this.closed) return Promise.reject(new SandboxError('SANDBOX_CLOSED', 'the memory queue is closed'));
    let cores: SubscriberCore[];
    try {
      cores = this.coresFor(message.topic);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.fullCore(cores) !== undefined) return this.publishSlow(message);
    this.enqueue(message, cores);
    return RESOLVED;
  }

  private async publishSlow(message: PublishMessage): Promise<void> {
    for (;;) {
      if (this.closed) throw new SandboxError('SANDBOX_CLOSED', 'the memory queue is closed');
      const cores = this.coresFor(message.topic);
      const full = this.fullCore(cores);
      if (full === undefined) {
        this.enqueue(message, cores);
        return;
      }
      await full.waitForRoom();
    }
  }

  async publishMany(messages: readonly PublishMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i++) {
      const pending = this.publish(messages[i]!);
      if (pending !== RESOLVED) await pending;
    }
  }

  async subscribe(pattern: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Subscription> {
    if (this.closing) throw new SandboxError('SANDBOX_CLOSED', 'the memory queue is closed');
    const matches = compilePattern(pattern);
    const resolved = resolveSubscribeOptions(options);
    const name = resolved.group ?? `\0private-${++this.privateIds}`;
    let route = this.groups.get(name);
    if (route === undefined) {
      route = { pattern, matches, core: new SubscriberCore(resolved, this.hooks, this.bufferSize, true) };
      this.groups.set(name, route);
      this.routes = new Map();
    } else if (route.pattern !== pattern) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `group ${JSON.stringify(resolved.group)} already subscribes to ${JSON.stringify(route.pattern)}; every member must use the same pattern`,
      );
    }
    const member = route.core.addMember(handler, resolved.concurrency, resolved.prefetch, resolved.autoAck);
    const subscription: MemorySubscription = {
      pattern,
      group: resolved.group,
      // Everything the group's core holds is published and not yet acked: buffered, in a handler, or retrying.
      lag: () => Promise.resolve(route.core.held),
      close: async () => {
        if (!this.subscriptions.delete(subscription)) return;
        const r = route;
        await r.core.removeMember(member);
        if (r.core.memberCount === 0 && this.groups.get(name) === r) {
          this.groups.delete(name);
          this.routes = new Map();
        }
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    // Handlers still draining may publish (their outputs); only new publishes after the drain are refused.
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    this.closed = true;
  }
}

type MemorySubscription = Subscription;

export function createMemoryQueue(options?: MemoryQueueOptions): MemoryQueue {
  return new MemoryQueue(options);
}
