// A key-value watch that stays open: reopened when its iterator ends, or when its owner finds it stalled (a watch can stop delivering after a nats-server dies, without an error).
import type { KV, KvWatchEntry } from '@nats-io/kv';

/** Pause before trying again to open a watch that could not be opened (the bucket unreachable). */
const RETRY_MS = 500;

export class KeptWatch {
  private iterator: { stop(): void } | undefined;
  private stopped = false;
  private reopening = false;
  /** Times the watch was opened again (it ended or was found stalled). */
  reopened = 0;

  constructor(
    private readonly kv: KV,
    /** The keys watched (`members.>`). */
    private readonly key: string,
    /** Each entry: the last value of every key first (again after a reopen), then each change. */
    private readonly onEntry: (entry: KvWatchEntry) => void,
    private readonly log: (message: string) => void,
    /** What it watches, for the log (`membership`). */
    private readonly what: string,
  ) {}

  /**
   * Opens the watch (throws if the bucket cannot be reached: a node does not start blind). With `initialWithinMs`,
   * also waits (that long at most) until every key's last value has been delivered: for keys known to exist, since
   * an empty watch delivers nothing to wait for.
   */
  async start(initialWithinMs?: number): Promise<void> {
    let delivered!: () => void;
    const initial = new Promise<void>((resolve) => (delivered = resolve));
    await this.open(delivered);
    if (initialWithinMs === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([initial, new Promise<void>((resolve) => (timer = setTimeout(resolve, initialWithinMs)))]);
    clearTimeout(timer);
  }

  private async open(delivered?: () => void): Promise<void> {
    const iterator = await this.kv.watch({ key: this.key });
    if (this.stopped) {
      iterator.stop();
      return;
    }
    this.iterator = iterator;
    void (async () => {
      for await (const entry of iterator) {
        if (iterator !== this.iterator) break; // superseded by a reopen
        this.onEntry(entry);
        if (entry.delta === 0) delivered?.(); // nothing pending behind it: the initial values are all in
      }
    })()
      .catch((error: unknown) => this.log(`cluster: the ${this.what} watch failed: ${String(error)}`))
      .finally(() => {
        if (!this.stopped && iterator === this.iterator) void this.reopen('ended');
      });
  }

  /**
   * Opens a new watch (which delivers every key's last value again, so nothing missed meanwhile stays missed) and
   * drops the old one. Keeps trying while the bucket cannot be reached.
   */
  async reopen(why: string): Promise<void> {
    if (this.stopped || this.reopening) return;
    this.reopening = true;
    this.log(`cluster: the ${this.what} watch ${why}; opening it again`);
    const old = this.iterator;
    try {
      for (;;) {
        try {
          await this.open();
          break;
        } catch (error) {
          if (this.stopped) return;
          this.log(`cluster: opening the ${this.what} watch again failed: ${String(error)}`);
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
      this.reopened++;
      old?.stop();
    } finally {
      this.reopening = false;
    }
  }

  stop(): void {
    this.stopped = true;
    this.iterator?.stop();
  }
}
