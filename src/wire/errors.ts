import { Exit, NitroError, type ExitCode } from "../util/errors.js";

/** The peer broke the protocol: the session ends (with an ERROR frame when we are the server). */
export class ProtocolError extends NitroError {
  constructor(message: string) {
    super(Exit.REMOTE, `protocol error: ${message}`);
  }
}

export const protocolError = (msg: string) => new ProtocolError(msg);

const CODES = new Set<number>(Object.values(Exit));

/** An exit code received from the peer; anything outside the table becomes REMOTE. */
export function exitCodeFrom(code: number): ExitCode {
  return CODES.has(code) && code !== Exit.OK ? (code as ExitCode) : Exit.REMOTE;
}

/** What an ERROR message carries for any failure: a NitroError's code, else INTERNAL. */
export function errorCodeOf(err: unknown): { code: ExitCode; message: string } {
  if (err instanceof NitroError) return { code: err.exitCode, message: err.message };
  return { code: Exit.INTERNAL, message: `internal error: ${(err as Error)?.message ?? String(err)}` };
}
