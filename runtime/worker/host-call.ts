// Both halves of the synchronous host-call bridge: a worker's guest calls an asynchronous host service (the graph, host functions, HTTP) and blocks until it answers.
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { HostCallRequest } from '../../host/host-call.ts';

/** What crosses the bridge: graph requests are MessagePack bytes; host-function calls and HTTP requests are HostCallRequests. */
export type BridgeRequest = Uint8Array | HostCallRequest;

/** What the worker receives (in workerData, the port transferred) to reach the host's services. */
export interface HostCallEnd {
  port: MessagePort;
  signal: SharedArrayBuffer;
}

/**
 * Host half: answers each request on the host thread with `serve`, posts the reply and wakes the worker sleeping
 * on the shared word. The port is unref'd: a bridge alone does not keep the process alive.
 */
export function serveHostCalls(serve: (request: BridgeRequest) => Promise<unknown>): HostCallEnd {
  const { port1, port2 } = new MessageChannel();
  const signal = new SharedArrayBuffer(4);
  const word = new Int32Array(signal);
  port1.on('message', (request: BridgeRequest) => {
    void serve(request).then((reply) => {
      port1.postMessage(reply);
      Atomics.store(word, 0, 1);
      Atomics.notify(word, 0);
    });
  });
  port1.unref();
  return { port: port2, signal };
}

/**
 * Worker half: host imports are synchronous, the services are not, so the worker posts the request and sleeps on
 * the shared word until the host has posted the answer. The watchdog still sees a run that waits too long.
 */
export function hostCallBridge(
  port: MessagePort | undefined,
  signalBuffer: SharedArrayBuffer | undefined,
): ((request: BridgeRequest) => unknown) | undefined {
  if (!port || !signalBuffer) return undefined;
  const signal = new Int32Array(signalBuffer);
  return (request) => {
    Atomics.store(signal, 0, 0);
    port.postMessage(request);
    for (;;) {
      Atomics.wait(signal, 0, 0);
      const reply = receiveMessageOnPort(port);
      if (reply) return reply.message;
      Atomics.wait(signal, 0, 1, 1);
    }
  };
}
