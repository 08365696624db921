// `sandbox ingest <file.ndjson> --topic <t>`: streams a file line by line onto a topic, accounting for every line.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { encode } from '../codec.ts';
import { deadLetterHeaders } from '../queue/dead-letter.ts';
import { DEFAULT_DEAD_LETTER_TOPIC, type QueueBackend } from '../queue/types.ts';
import { validateTopic } from '../queue/topics.ts';
import { parseCommandArgs, reportUsage, UsageError } from './args.ts';
import { EXIT_OK, type CliIO, type Command } from './io.ts';
import { openQueue, QUEUE_OPTIONS_HELP, QUEUE_PARSE_OPTIONS, reportError } from './publish.ts';

export const INGEST_HELP = `Usage: sandbox ingest <file.ndjson> --topic <topic> [options]

Streams a file of JSON lines onto a topic, one message per line (MessagePack-encoded),
reading with bounded memory and waiting whenever the queue applies backpressure.

  --topic <topic>         where the lines go (required)
  --key <field>           use this top-level field of each record as the message key
  --dead-letter           send malformed lines (as a string, with the reason and line
                          number in headers) to the dead-letter topic instead of skipping
                          them: the --config's deadLetter, else dead-letter
  --dead-letter-topic <t> the same, to topic <t>
  --json                  print the summary as one JSON object on stdout (errors as {"error": ...})

A malformed line is reported on stderr with its line number. A progress bar is shown
when stderr is a terminal; a summary (published / malformed / blank) is always printed.

${QUEUE_OPTIONS_HELP}

Exit codes: 0 every line was published, skipped or dead-lettered, 1 the queue failed,
2 usage error.`;

/** Every ingested message carries its line number in the file, so a dead letter leads back to its line. */
export const LINE_HEADER = 'x-source-line';

export interface IngestOptions {
  topic: string;
  /** Dead-letter malformed lines to this topic; without it they are skipped (and reported). */
  deadLetter?: string | undefined;
  /** A top-level field whose value becomes the message key. */
  keyField?: string | undefined;
  signal?: AbortSignal | undefined;
  onMalformed?: (lineNumber: number, reason: string, line: string) => void;
  /** Called about every 100 ms while reading. */
  onProgress?: (stats: IngestStats, bytesRead: number, totalBytes: number) => void;
}

export interface IngestStats {
  lines: number;
  published: number;
  malformed: number;
  /** Malformed lines sent to the dead-letter topic (the rest were skipped). */
  deadLettered: number;
  blank: number;
  /** Line numbers of the first malformed lines (at most 100, so memory stays bounded). */
  malformedLines: number[];
  /** True when the signal stopped the ingest before the end of the file. */
  aborted: boolean;
}

/** Publishes each JSON line of `file` to `options.topic`; every line ends up published, malformed or blank. */
export async function ingestFile(queue: QueueBackend, file: string, options: IngestOptions): Promise<IngestStats> {
  validateTopic(options.topic);
  if (options.deadLetter !== undefined) validateTopic(options.deadLetter);
  const totalBytes = (await stat(file)).size;
  const stats: IngestStats = {
    lines: 0,
    published: 0,
    malformed: 0,
    deadLettered: 0,
    blank: 0,
    malformedLines: [],
    aborted: false,
  };
  const stream = createReadStream(file, { highWaterMark: 64 * 1024, encoding: 'utf8' });
  let lastProgress = 0;
  /** One line: its publish to await (the backpressure), or undefined when there is nothing to wait for. */
  const take = (line: string): Promise<void> | undefined => {
    const n = ++stats.lines;
    if (line.trim() === '') {
      stats.blank++;
      return undefined;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      const reason = `line ${n}: invalid JSON: ${(error as Error).message}`;
      stats.malformed++;
      if (stats.malformedLines.length < 100) stats.malformedLines.push(n);
      options.onMalformed?.(n, reason, line);
      if (options.deadLetter === undefined) return undefined;
      // Counted before the publish settles: a failed publish ends the ingest with an error, not with these stats.
      stats.deadLettered++;
      return queue.publish({
        topic: options.deadLetter,
        payload: encode(line),
        headers: deadLetterHeaders({ topic: options.topic, reason }, { [LINE_HEADER]: String(n) }),
      });
    }
    let key: string | undefined;
    if (options.keyField !== undefined && value !== null && typeof value === 'object') {
      const k = (value as Record<string, unknown>)[options.keyField];
      if (typeof k === 'string' || typeof k === 'number') key = String(k);
    }
    // Awaiting each publish is the backpressure: a full subscription (or a slow broker) pauses the reading.
    const published = queue.publish({
      topic: options.topic,
      payload: encode(value),
      key,
      headers: { [LINE_HEADER]: String(n) },
    });
    stats.published++;
    if (options.onProgress && (n & 1023) === 0) {
      const now = Date.now();
      if (now - lastProgress >= 100) {
        lastProgress = now;
        options.onProgress(stats, stream.bytesRead, totalBytes);
      }
    }
    return published;
  };
  // Lines are cut here rather than by node:readline, whose async iterator costs several promises a line; the
  // breaks are readline's (\n, \r\n, and a lone \r), so line numbers match what an editor shows.
  let carry = '';
  // A promise already awaited once is settled for good: when a backend hands back the same one again (the memory
  // queue's shared resolved promise), awaiting it would only cost a microtask per line.
  let settled: Promise<void> | undefined;
  try {
    reading: for await (const chunk of stream as AsyncIterable<string>) {
      const text = carry + chunk;
      let from = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
        const end = nl > from && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        const line = text.slice(from, end);
        from = nl + 1;
        if (line.includes('\r')) {
          for (const l of line.split('\r')) {
            if (options.signal?.aborted) {
              stats.aborted = true;
              break reading;
            }
            const pending = take(l);
            if (pending !== undefined) await pending;
          }
          continue;
        }
        if (options.signal?.aborted) {
          stats.aborted = true;
          break reading;
        }
        const pending = take(line);
        if (pending !== undefined && pending !== settled) {
          await pending;
          settled = pending;
        }
      }
      carry = text.slice(from);
    }
    if (!stats.aborted && carry.length > 0) {
      // The last line has no newline; a trailing \r is a break of its own (readline's), not part of the line.
      const last = carry.endsWith('\r') ? carry.slice(0, -1) : carry;
      for (const l of last.includes('\r') ? last.split('\r') : [last]) {
        if (options.signal?.aborted) {
          stats.aborted = true;
          break;
        }
        const pending = take(l);
        if (pending !== undefined) await pending;
      }
    }
  } finally {
    stream.destroy();
  }
  options.onProgress?.(stats, stream.bytesRead, totalBytes);
  return stats;
}

/** The progress line drawn on a terminal: a bar over the bytes read, and counts. */
export function progressLine(stats: IngestStats, bytesRead: number, totalBytes: number, startedAt: number): string {
  const fraction = totalBytes === 0 ? 1 : Math.min(1, bytesRead / totalBytes);
  const width = 24;
  const filled = Math.round(fraction * width);
  const seconds = Math.max(0.001, (Date.now() - startedAt) / 1000);
  return `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${stats.lines} lines  ${stats.published} published  ${stats.malformed} malformed  ${Math.round(stats.lines / seconds)} lines/s`;
}

export function summaryLine(file: string, topic: string, stats: IngestStats, ms: number): string {
  const parts = [
    `${stats.published} published`,
    `${stats.malformed} malformed${stats.malformed > 0 ? (stats.deadLettered > 0 ? ' (dead-lettered)' : ' (skipped)') : ''}`,
  ];
  if (stats.blank > 0) parts.push(`${stats.blank} blank`);
  return `ingested ${file} → ${topic}: ${stats.lines} lines: ${parts.join(', ')} in ${(ms / 1000).toFixed(2)} s${stats.aborted ? ' (stopped early by a signal)' : ''}`;
}

/** Runs an ingest with the CLI's reporting (stderr: malformed lines, progress on a TTY, summary). */
export async function ingestWithReport(
  queue: QueueBackend,
  file: string,
  options: IngestOptions,
  io: CliIO,
  label = file,
): Promise<IngestStats> {
  const started = Date.now();
  const tty = io.stderr.isTTY === true;
  let drawn = false;
  const stats = await ingestFile(queue, file, {
    ...options,
    signal: options.signal ?? io.signal,
    onMalformed: (n, reason) => {
      io.stderr.write(`${drawn ? '\r\x1b[K' : ''}${label}:${reason.replace(/^line \d+: /, `${n}: `)}\n`);
      drawn = false;
    },
    onProgress: tty
      ? (s, read, total) => {
          io.stderr.write(progressLine(s, read, total, started));
          drawn = true;
        }
      : undefined,
  });
  if (drawn) io.stderr.write('\n');
  io.stderr.write(`${summaryLine(label, options.topic, stats, Date.now() - started)}\n`);
  return stats;
}

export const ingest: Command = async (argv, io) => {
  const parsed = parseCommandArgs(
    'ingest',
    argv,
    {
      ...QUEUE_PARSE_OPTIONS,
      topic: { type: 'string', short: 't' },
      key: { type: 'string' },
      'dead-letter': { type: 'boolean' },
      'dead-letter-topic': { type: 'string' },
      json: { type: 'boolean' },
    },
    INGEST_HELP,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  let queue: QueueBackend | undefined;
  try {
    if (positionals.length !== 1)
      throw new UsageError(
        positionals.length === 0
          ? 'which file? give the path of an .ndjson file'
          : `one file at a time; got ${positionals.join(' ')}`,
      );
    if (values.topic === undefined) throw new UsageError('--topic is required');
    const file = resolve(io.cwd, positionals[0]!);
    const opened = await openQueue(values, io);
    queue = opened.queue;
    const dlTopic = values['dead-letter-topic'];
    const deadLetter =
      values['dead-letter'] || dlTopic !== undefined
        ? (dlTopic ?? opened.deadLetter ?? DEFAULT_DEAD_LETTER_TOPIC)
        : undefined;
    if (queue.kind === 'memory')
      io.stderr.write(
        `note: the memory queue lives in this process and nothing subscribes to it here; see 'sandbox serve --ingest'\n`,
      );
    const started = Date.now();
    const stats = await ingestWithReport(
      queue,
      file,
      { topic: values.topic, deadLetter, keyField: values.key },
      io,
      positionals[0],
    );
    if (values.json === true)
      io.stdout.write(
        `${JSON.stringify({ file: positionals[0], topic: values.topic, ...stats, durationMs: Date.now() - started })}\n`,
      );
    return EXIT_OK;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') {
      return reportUsage(
        'ingest',
        `${code === 'EISDIR' ? `${positionals[0]} is a directory; give an .ndjson file` : `no such file: ${positionals[0]}`}`,
        io,
        values.json === true,
      );
    }
    return reportError('ingest', error, io, values.json === true);
  } finally {
    await queue?.close();
  }
};
