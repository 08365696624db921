// `sandbox tail <pattern>`: prints the messages on matching topics as they arrive, payloads decoded to JSON.
import { decode } from '../codec.ts';
import type { QueueBackend, QueueMessage, Subscription } from '../queue/types.ts';
import { parseCommandArgs, parseCount, toJson, UsageError } from './args.ts';
import { EXIT_OK, type Command } from './io.ts';
import { openQueue, QUEUE_OPTIONS_HELP, QUEUE_PARSE_OPTIONS, reportError } from './publish.ts';
import { untilAborted } from './serve.ts';

export const TAIL_HELP = `Usage: sandbox tail <pattern> [options]

Prints each message on a topic matching <pattern> ('*' one token, '>' the rest) as
"<topic> <payload as JSON>", plus its headers when it has any. Runs until interrupted.

  --count <n>             stop after n messages
  --group <name>          join a consumer group (competing with its other members)
                          instead of watching privately

${QUEUE_OPTIONS_HELP}

Exit codes: 0 stopped (by --count or a signal), 1 the queue failed, 2 usage error.`;

/** One line per message; a payload that is not MessagePack is shown by its size. */
export function formatMessage(message: Pick<QueueMessage, 'topic' | 'payload' | 'headers' | 'key'>): string {
  let body: string;
  try {
    body = toJson(decode(message.payload));
  } catch {
    body = `<${message.payload.length} bytes, not MessagePack>`;
  }
  const extras: string[] = [];
  if (message.key !== undefined) extras.push(`key=${message.key}`);
  for (const [name, value] of Object.entries(message.headers)) extras.push(`${name}=${JSON.stringify(value)}`);
  return `${message.topic} ${body}${extras.length > 0 ? `  (${extras.join(' ')})` : ''}`;
}

export const tail: Command = async (argv, io) => {
  const parsed = parseCommandArgs(
    'tail',
    argv,
    { ...QUEUE_PARSE_OPTIONS, count: { type: 'string', short: 'n' }, group: { type: 'string' } },
    TAIL_HELP,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  let queue: QueueBackend | undefined;
  let subscription: Subscription | undefined;
  try {
    if (positionals.length !== 1) throw new UsageError('expected one <pattern>, e.g. alerts.>');
    const count = values.count === undefined ? Infinity : parseCount('--count', values.count);
    ({ queue } = await openQueue(values, io));
    let seen = 0;
    const done = new AbortController();
    if (count === 0) done.abort();
    subscription = await queue.subscribe(
      positionals[0]!,
      (message) => {
        if (seen >= count) {
          // Past --count: hand it back for another consumer of the group.
          message.nak(0, 'tail stopped');
          return;
        }
        seen++;
        io.stdout.write(`${formatMessage(message)}\n`);
        message.ack();
        if (seen >= count) done.abort();
      },
      { group: values.group, autoAck: false },
    );
    await untilAborted(AbortSignal.any([done.signal, io.signal]));
    return EXIT_OK;
  } catch (error) {
    return reportError('tail', error, io);
  } finally {
    await subscription?.close();
    await queue?.close();
  }
};
