// Agent `triage`: rates a log record {ts, level, service, msg} by severity, alerts on errors and on bursts of errors per service.
import { emit, Fields, handle, Input, Kind, log, output, Writer } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

/** A service that logs this many errors within BURST_WINDOW_MS of each other gets a burst alert. */
const BURST_COUNT: i32 = 5;
const BURST_WINDOW_MS: f64 = 60_000;
/** Services whose recent errors are remembered; past this the least recently seen one is forgotten. */
const MAX_SERVICES: i32 = 1024;
const MAX_SERVICE_BYTES: i32 = 128;

/** Handler return codes (the run's errorCode). */
const E_NOT_A_MAP: i32 = 1;
const E_BAD_FIELD: i32 = 2;

const LEVELS_CRITICAL = ["fatal", "critical", "crit", "emergency", "emerg", "panic"];
const LEVELS_ERROR = ["error", "err"];
const LEVELS_WARN = ["warn", "warning"];
/** Message patterns that make an error critical. */
const PATTERNS_CRITICAL = ["out of memory", "oom", "panic", "segfault", "corrupt"];
/** Message patterns that make any record at least high: the usual signs of an incident. */
const PATTERNS_HIGH = ["timeout", "timed out", "refused", "out of memory", "oom", "panic", "unreachable", "deadline exceeded"];

/** The timestamps of a service's most recent errors: a fixed-size ring, so memory per service is bounded. */
class ErrorRing {
  times: StaticArray<f64> = new StaticArray<f64>(BURST_COUNT);
  next: i32 = 0;
  size: i32 = 0;
  lastSeen: f64 = 0;

  push(ts: f64): void {
    unchecked((this.times[this.next] = ts));
    this.next = (this.next + 1) % BURST_COUNT;
    if (this.size < BURST_COUNT) this.size++;
    if (ts > this.lastSeen) this.lastSeen = ts;
  }

  /** Errors in the ring within the window around `ts` (records may arrive slightly out of order). */
  countNear(ts: f64): i32 {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (Math.abs(unchecked(this.times[i]) - ts) <= BURST_WINDOW_MS) n++;
    return n;
  }

  clear(): void {
    this.next = 0;
    this.size = 0;
  }
}

const rings = new Map<string, ErrorRing>();
const out = new Writer(64);
const alert = new Writer(256);

class Verdict {
  constructor(public severity: string, public reason: string) {}
}

/** True when `needle` occurs in `hay` at the start of a word ("oom" matches "OOM-killed", not "room"). */
function hasWordStart(hay: string, needle: string): bool {
  let at = hay.indexOf(needle);
  while (at >= 0) {
    if (at == 0 || !isLetter(hay.charCodeAt(at - 1))) return true;
    at = hay.indexOf(needle, at + 1);
  }
  return false;
}

function isLetter(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

function firstMatch(hay: string, patterns: string[]): string | null {
  for (let i = 0; i < patterns.length; i++) if (hasWordStart(hay, patterns[i])) return patterns[i];
  return null;
}

function classify(level: string, msg: string): Verdict {
  const lvl = level.toLowerCase();
  const text = msg.toLowerCase();
  if (LEVELS_CRITICAL.includes(lvl)) return new Verdict("critical", "level " + lvl);
  if (LEVELS_ERROR.includes(lvl)) {
    const worst = firstMatch(text, PATTERNS_CRITICAL);
    if (worst !== null) return new Verdict("critical", "error matching \"" + worst + "\"");
    return new Verdict("high", "level " + lvl);
  }
  const sign = firstMatch(text, PATTERNS_HIGH);
  if (sign !== null) return new Verdict("high", "message matching \"" + sign + "\"");
  if (LEVELS_WARN.includes(lvl)) return new Verdict("medium", "level " + lvl);
  return new Verdict("low", "level " + lvl);
}

/** `alerts.<service>`, with characters a topic token may not hold replaced by '_'. */
function alertTopic(service: string): string {
  let token = "";
  for (let i = 0; i < service.length; i++) {
    const c = service.charCodeAt(i);
    const ok = isLetter(c) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x2d;
    token += ok ? String.fromCharCode(c) : "_";
  }
  return "alerts." + token;
}

function ringOf(service: string): ErrorRing {
  if (rings.has(service)) return rings.get(service);
  if (rings.size >= MAX_SERVICES) forgetLeastRecent();
  const ring = new ErrorRing();
  rings.set(service, ring);
  return ring;
}

function forgetLeastRecent(): void {
  const names = rings.keys();
  let victim = names[0];
  let oldest = rings.get(victim).lastSeen;
  for (let i = 1; i < names.length; i++) {
    const seen = rings.get(names[i]).lastSeen;
    if (seen < oldest) {
      oldest = seen;
      victim = names[i];
    }
  }
  rings.delete(victim);
}

function writeTs(w: Writer, ts: f64): void {
  if (Math.trunc(ts) == ts && Math.abs(ts) < 9e15) w.int(<i64>ts);
  else w.float(ts);
}

function emitAlert(service: string, severity: string, ts: f64, msg: string, reason: string, count: i32): void {
  alert.reset().map(count > 0 ? 6 : 5);
  alert.key("service").str(service);
  alert.key("severity").str(severity);
  alert.key("ts");
  writeTs(alert, ts);
  alert.key("msg").str(msg);
  alert.key("reason").str(reason);
  if (count > 0) alert.key("count").int(count);
  emit(alertTopic(service), alert);
}

function requireString(fields: Fields, key: string): bool {
  if (fields.kindOf(key) == Kind.Str) return true;
  log.error("triage: field `" + key + "` must be a string");
  return false;
}

handle((input: Input): i32 => {
  const fields = input.fields();
  if (fields === null) {
    log.error("triage: input must be a log record {ts, level, service, msg}");
    return E_NOT_A_MAP;
  }
  const tsKind = fields.kindOf("ts");
  if (tsKind != Kind.Int && tsKind != Kind.Float) {
    log.error("triage: field `ts` must be a number (milliseconds since the epoch)");
    return E_BAD_FIELD;
  }
  if (!requireString(fields, "level") || !requireString(fields, "service") || !requireString(fields, "msg")) return E_BAD_FIELD;
  const ts = fields.getFloat("ts");
  const level = fields.getString("level");
  const service = fields.getString("service");
  const msg = fields.getString("msg");
  const serviceBytes = String.UTF8.byteLength(service);
  if (serviceBytes == 0 || serviceBytes > MAX_SERVICE_BYTES) {
    log.error("triage: field `service` must be 1 to " + MAX_SERVICE_BYTES.toString() + " bytes");
    return E_BAD_FIELD;
  }

  const verdict = classify(level, msg);
  if (verdict.severity == "critical" || verdict.severity == "high") {
    emitAlert(service, verdict.severity, ts, msg, verdict.reason, 0);
    const ring = ringOf(service);
    ring.push(ts);
    const recent = ring.countNear(ts);
    if (recent >= BURST_COUNT) {
      const reason = "burst: " + recent.toString() + " errors within " + (<i64>BURST_WINDOW_MS).toString() + " ms";
      emitAlert(service, "critical", ts, msg, reason, recent);
      // Start counting afresh, so one burst raises one alert rather than one per further error.
      ring.clear();
    }
  }
  output(out.reset().map(1).key("severity").str(verdict.severity));
  return 0;
});
