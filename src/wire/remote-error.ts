import { Exit, NitroError, type ExitCode } from "../util/errors.js";
import { decodeError } from "./messages.js";

/**
 * Exit codes that mean the same on both ends of the wire: what the far store found (a missing
 * chunk, a corrupt frame, an image that exists, a busy lock, a full disk) or refused (a bad name,
 * a read-only site). Anything else, its bugs (INTERNAL) or its own SSH trouble (HOST_KEY)
 * included, is this side's REMOTE: the site failed.
 */
const CROSSES_THE_WIRE: ReadonlySet<number> = new Set<ExitCode>([
  Exit.FAILURE,
  Exit.USAGE,
  Exit.NOT_FOUND,
  Exit.EXISTS,
  Exit.CORRUPT,
  Exit.LOCKED,
  Exit.NO_SPACE,
  Exit.REMOTE,
  Exit.INCOMPLETE,
]);

export function localExitCode(remoteCode: number): ExitCode {
  return CROSSES_THE_WIRE.has(remoteCode) ? (remoteCode as ExitCode) : Exit.REMOTE;
}

// C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides and isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Text from a site, made safe to print on one line: control characters and line breaks are shown
 * escaped (`\x1b`, `\n`), so that a site can neither drive the terminal nor forge lines of ours.
 */
export function quoteRemoteText(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code <= 0xff ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`);
  });
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/** The NitroError for an ERROR body from site `site`: its words quoted, its code made ours. */
export function remoteError(site: string, body: Buffer): NitroError {
  // Never throws: a malformed ERROR still fails its request (the caller has let go of it).
  if (body.length < 1) return new NitroError(Exit.REMOTE, `${site}: protocol error: malformed ERROR`);
  const { code, message } = decodeError(body);
  return new NitroError(localExitCode(code), `${site}: ${quoteRemoteText(message)}`);
}
