// The shared-memory run channel's two ends, in one thread: a run waits for the messages posted before it, and its answer comes back.
import { describe, expect, it } from 'vitest';
import { createRunChannel, RunChannelHost, RunChannelWorker } from '../../runtime/worker/run-channel.ts';

describe('run channel', () => {
  it('hands a run to the worker only once every message posted before it has arrived, and returns its answer', async () => {
    const buffer = createRunChannel();
    const host = new RunChannelHost(buffer);
    const worker = new RunChannelWorker(buffer);
    host.send(7, 3, Uint8Array.of(1, 2, 3), 2);
    expect(host.busy).toBe(true);
    expect(host.answer()).toBe(false);
    expect(worker.hasNew()).toBe(true);
    expect(worker.take(1)).toBeNull(); // one of the two earlier messages is still on its way
    expect(worker.take(2)).toEqual({ seq: 7, agentId: 3, input: Uint8Array.of(1, 2, 3) });
    expect(worker.hasNew()).toBe(false);
    const woken = host.wait();
    worker.answer(Uint8Array.of(9, 8));
    expect(await woken).toBe(true);
    expect(host.answer()).toEqual(Uint8Array.of(9, 8));
    expect(host.busy).toBe(false);
  });

  it('says when the answer went by message, and gives up when the worker is gone', async () => {
    const buffer = createRunChannel();
    const host = new RunChannelHost(buffer);
    const worker = new RunChannelWorker(buffer);
    host.send(1, 1, Uint8Array.of(0), 0);
    expect(worker.take(0)).not.toBeNull();
    expect(worker.fits(new Uint8Array(1 << 20))).toBe(false);
    worker.answer(null);
    expect(host.answer()).toBeNull();
    host.send(2, 1, Uint8Array.of(0), 0);
    const lost = host.wait();
    host.close();
    expect(await lost).toBe(false);
  });
});
