// WASI preview 1 error numbers, and the mapping from Node's host error codes to them.

const NAMES = [
  'SUCCESS',
  '2BIG',
  'ACCES',
  'ADDRINUSE',
  'ADDRNOTAVAIL',
  'AFNOSUPPORT',
  'AGAIN',
  'ALREADY',
  'BADF',
  'BADMSG',
  'BUSY',
  'CANCELED',
  'CHILD',
  'CONNABORTED',
  'CONNREFUSED',
  'CONNRESET',
  'DEADLK',
  'DESTADDRREQ',
  'DOM',
  'DQUOT',
  'EXIST',
  'FAULT',
  'FBIG',
  'HOSTUNREACH',
  'IDRM',
  'ILSEQ',
  'INPROGRESS',
  'INTR',
  'INVAL',
  'IO',
  'ISCONN',
  'ISDIR',
  'LOOP',
  'MFILE',
  'MLINK',
  'MSGSIZE',
  'MULTIHOP',
  'NAMETOOLONG',
  'NETDOWN',
  'NETRESET',
  'NETUNREACH',
  'NFILE',
  'NOBUFS',
  'NODEV',
  'NOENT',
  'NOEXEC',
  'NOLCK',
  'NOLINK',
  'NOMEM',
  'NOMSG',
  'NOPROTOOPT',
  'NOSPC',
  'NOSYS',
  'NOTCONN',
  'NOTDIR',
  'NOTEMPTY',
  'NOTRECOVERABLE',
  'NOTSOCK',
  'NOTSUP',
  'NOTTY',
  'NXIO',
  'OVERFLOW',
  'OWNERDEAD',
  'PERM',
  'PIPE',
  'PROTO',
  'PROTONOSUPPORT',
  'PROTOTYPE',
  'RANGE',
  'ROFS',
  'SPIPE',
  'SRCH',
  'STALE',
  'TIMEDOUT',
  'TXTBSY',
  'XDEV',
  'NOTCAPABLE',
] as const;

export const Errno = {
  SUCCESS: 0,
  ACCES: 2,
  AGAIN: 6,
  BADF: 8,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  INVAL: 28,
  IO: 29,
  ISDIR: 31,
  LOOP: 32,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOSYS: 52,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTSUP: 58,
  OVERFLOW: 61,
  PERM: 63,
  ROFS: 69,
  SPIPE: 70,
  XDEV: 75,
  NOTCAPABLE: 76,
} as const;

const byHostCode = new Map<string, number>(NAMES.map((n, i) => [`E${n}`, i]));
byHostCode.set('EOPNOTSUPP', Errno.NOTSUP);
byHostCode.set('EWOULDBLOCK', Errno.AGAIN);

/** The errno a guest sees for a failure inside a host call; unknown failures become EIO, never an exception. */
export function errnoOf(error: unknown): number {
  if (error instanceof WasiError) return error.errno;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return byHostCode.get(code) ?? Errno.IO;
  return Errno.IO;
}

/** A failure with a known errno, thrown inside the host and turned into a return value at the import boundary. */
export class WasiError extends Error {
  readonly errno: number;
  constructor(errno: number) {
    super(`WASI errno ${NAMES[errno] ?? errno}`);
    this.errno = errno;
  }
}

export function errnoName(errno: number): string {
  return NAMES[errno] ?? String(errno);
}
