// The virtual file system: host directories granted to the guest, and path resolution that never leaves a grant.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Errno, WasiError } from './errno.ts';

/** A host directory made visible to the guest under `guest`; `readOnly` refuses every change beneath it. */
export interface DirGrant {
  host: string;
  guest: string;
  readOnly: boolean;
}

/** A preopened grant, with its host path made absolute and checked once at start-up. */
export interface Preopen {
  readonly hostRoot: string;
  readonly guestName: string;
  readonly readOnly: boolean;
}

/** Where a guest path landed: inside `preopen`, at the components `rel` below its root. */
export interface Resolved {
  readonly preopen: Preopen;
  readonly rel: readonly string[];
  readonly hostPath: string;
  /** The guest wrote a trailing slash: the target must be a directory. */
  readonly trailingSlash: boolean;
}

// Linux's limit; past it, resolution reports ELOOP like the host would.
const MAX_SYMLINKS = 40;

export function makePreopen(grant: DirGrant): Preopen {
  const hostRoot = fs.realpathSync(path.resolve(grant.host));
  if (!fs.statSync(hostRoot).isDirectory()) throw new Error(`not a directory: ${grant.host}`);
  return { hostRoot, guestName: grant.guest, readOnly: grant.readOnly };
}

export function hostPathOf(preopen: Preopen, rel: readonly string[]): string {
  return rel.length === 0 ? preopen.hostRoot : path.join(preopen.hostRoot, ...rel);
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Resolves `guestPath` relative to the directory `base` (components below the preopen's root).
 * Symlinks are read and spliced in by us, component by component, so that neither `..` nor a link can reach
 * outside the grant: the host only ever sees paths whose every directory component is a real directory inside it.
 * `followFinal` follows a symlink in the last component (a trailing slash always does).
 */
export function resolvePath(
  preopen: Preopen,
  base: readonly string[],
  guestPath: string,
  followFinal: boolean,
): Resolved {
  if (guestPath.includes('\0')) throw new WasiError(Errno.INVAL);
  if (guestPath.length === 0) throw new WasiError(Errno.NOENT);
  if (guestPath.startsWith('/')) throw new WasiError(Errno.NOTCAPABLE);
  const trailingSlash = guestPath.endsWith('/');
  const cur = [...base];
  const queue = guestPath.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  let lastWasFollowed = trailingSlash;
  while (queue.length > 0) {
    const comp = queue.shift()!;
    const isLast = queue.length === 0;
    if (comp === '..') {
      // A directory descriptor is a capability for what lies beneath it, not for its parents (as openat2's
      // RESOLVE_BENEATH and cap-std): leaving it is refused even when the parent is inside the grant.
      if (cur.length <= base.length) throw new WasiError(Errno.NOTCAPABLE);
      cur.pop();
      continue;
    }
    if (Buffer.byteLength(comp) > 255) throw new WasiError(Errno.NAMETOOLONG);
    const candidate = hostPathOf(preopen, [...cur, comp]);
    if (isLast && !(followFinal || lastWasFollowed)) {
      cur.push(comp);
      break;
    }
    const st = lstatOrNull(candidate);
    if (st === null) {
      if (!isLast) throw new WasiError(Errno.NOENT);
      cur.push(comp);
      break;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new WasiError(Errno.LOOP);
      const target = fs.readlinkSync(candidate, 'utf8');
      if (target.startsWith('/')) throw new WasiError(Errno.NOTCAPABLE);
      const parts = target.split('/').filter((c) => c !== '' && c !== '.');
      // A link whose target ends in '/' keeps directory semantics for what follows it.
      if (isLast && target.endsWith('/')) lastWasFollowed = true;
      queue.unshift(...parts);
      if (isLast && parts.length === 0) break;
      continue;
    }
    if (!isLast && !st.isDirectory()) throw new WasiError(Errno.NOTDIR);
    cur.push(comp);
  }
  return { preopen, rel: cur, hostPath: hostPathOf(preopen, cur), trailingSlash };
}
