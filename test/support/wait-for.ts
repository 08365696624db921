// Polling for tests: wait until a condition holds, or fail saying what was awaited. The one copy every test uses.

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` every `intervalMs`; throws naming `what` (a function is evaluated at the timeout, for the state). */
export async function waitFor(
  what: string | (() => string),
  predicate: () => boolean,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(intervalMs);
  }
}
