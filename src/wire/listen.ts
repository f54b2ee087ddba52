import { lstatSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Exit, NitroError, exists, fromSystemError, usage } from "../util/errors.js";

/** The socket a long-running `nitro serve --socket` listens on, in the repository it serves. */
export const SERVE_SOCKET = "serve.sock";

/** sun_path holds 108 bytes with its terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface Listening {
  /** Stops taking connections, ends the open ones and waits for their sessions to finish. */
  stop(): Promise<void>;
  /** Resolves when stop() has finished. */
  stopped: Promise<void>;
}

/**
 * Serves each connection to a Unix socket at `path` with `session` (the socket is its input and
 * output), every session in this one process: what `nitro serve --stdio` does per SSH session,
 * without a node start for each. The socket is made owner-only; SSH reaches it as the logged-in user
 * (OpenSSH's streamlocal forwarding), so it lets in whom `nitro serve --stdio` would let in. A
 * socket left by a killed server is replaced; one a live server answers on is refused.
 */
export async function listenOnSocket(
  path: string,
  session: (socket: Socket) => Promise<void>,
  onSessionError: (err: unknown) => void,
): Promise<Listening> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH)
    throw usage(
      `socket path too long for a Unix socket (${Buffer.byteLength(path)} > ${MAX_SOCKET_PATH} bytes): ${path}`,
    );
  await removeStaleSocket(path);
  const server = createServer({ allowHalfOpen: true });
  // each open connection and its session, ended by stop()
  const open = new Map<Socket, Promise<void>>();
  server.on("connection", (socket) => {
    socket.on("error", () => undefined);
    const done = session(socket)
      .catch(onSessionError)
      .finally(() => {
        socket.end();
        open.delete(socket);
      });
    open.set(socket, done);
  });
  const umask = process.umask(0o077);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.removeListener("error", reject);
        resolve();
      });
    });
  } catch (err) {
    throw fromSystemError(err, `cannot listen on ${path}`);
  } finally {
    process.umask(umask);
  }
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const closed = closeServer(server);
      const sessions = [...open.values()];
      for (const s of open.keys()) s.destroy();
      await Promise.all([closed, ...sessions]);
      resolveStopped();
    })());
  return { stop, stopped };
}

/** Removes a socket file no server answers on; refuses a live one and anything not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw fromSystemError(err, path);
  }
  if (!isSocket) throw new NitroError(Exit.EXISTS, `${path} exists and is not a socket: not replacing it`);
  if (await socketAnswers(path)) throw exists(`another nitro serve is already listening on ${path}`);
  unlinkSync(path);
}

/** Whether a server takes connections on the Unix socket at `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

/** Stops accepting and unlinks the socket file; resolves once the open connections have ended too. */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
