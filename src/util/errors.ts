/**
 * Every failure a user can cause or meet ends as a NitroError with one clear line and an exit
 * code from this table (documented in README.md). Anything else is a bug (exit 70).
 */
export const Exit = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  EXISTS: 4,
  CORRUPT: 5,
  LOCKED: 6,
  NO_SPACE: 7,
  REMOTE: 8,
  HOST_KEY: 9,
  INCOMPLETE: 10,
  INTERNAL: 70,
} as const;

export type ExitCode = (typeof Exit)[keyof typeof Exit];

export class NitroError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = "NitroError";
  }
}

export const usage = (msg: string) => new NitroError(Exit.USAGE, msg);
export const notFound = (msg: string) => new NitroError(Exit.NOT_FOUND, msg);
export const exists = (msg: string) => new NitroError(Exit.EXISTS, msg);
export const corrupt = (msg: string) => new NitroError(Exit.CORRUPT, msg);
export const remote = (msg: string) => new NitroError(Exit.REMOTE, msg);

/** Maps system errors (ENOSPC, EACCES...) raised by fs calls to NitroErrors with a clear line. */
export function fromSystemError(err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      return new NitroError(Exit.NO_SPACE, `${what}: no space left on device`);
    case "ENOENT":
      return notFound(`${what}: no such file or directory`);
    case "EACCES":
    case "EPERM":
      return new NitroError(Exit.FAILURE, `${what}: permission denied`);
    case "EROFS":
      return new NitroError(Exit.FAILURE, `${what}: read-only file system`);
    case "EISDIR":
      return usage(`${what}: is a directory`);
    case "ENOTDIR":
      return notFound(`${what}: a component of the path is not a directory`);
    default:
      return code && /^E[A-Z]+$/.test(code)
        ? new NitroError(Exit.FAILURE, `${what}: ${(err as Error).message}`)
        : err;
  }
}
