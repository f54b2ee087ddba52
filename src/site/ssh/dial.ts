import { connect, type Socket } from "node:net";
import { trace } from "../../util/trace.js";
import { resolveSshEndpoint, type SshEndpoint } from "./config.js";
import type { SshChannelOptions } from "./connect.js";

/** Where SshChannelOptions lead: host, port, user and identities after ssh_config. */
export function endpointOf(opts: SshChannelOptions): Promise<SshEndpoint> {
  return resolveSshEndpoint(opts.host, {
    ...(opts.configPath !== undefined ? { configPath: opts.configPath } : {}),
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.identityFiles ? { identityFiles: opts.identityFiles } : {}),
  });
}

/**
 * A TCP connection to an SSH endpoint asked for before ssh2 is loaded (~90 ms of import): the
 * connect's round trip and sshd's start (its fork, its version line) happen meanwhile. What the
 * socket meets before ssh2 takes it (an error, the far end closing) is kept for openSshChannel,
 * which reports it as it would ssh2's.
 */
export interface Dialed {
  endpoint: SshEndpoint;
  socket: Socket;
  /** The socket's error, or its closing, before handOver. */
  failure(): (Error & { code?: string }) | undefined;
  /** ssh2 listens from now on. */
  handOver(): void;
  /** Closes the socket unless it was handed over (then it is ssh2's to close). */
  abandon(): void;
}

export async function dial(opts: SshChannelOptions): Promise<Dialed> {
  const endpoint = await endpointOf(opts);
  const socket = connect({ host: endpoint.host, port: endpoint.port });
  trace(`ssh ${endpoint.host}:${endpoint.port}: dialed`);
  let failure: (Error & { code?: string }) | undefined;
  const onError = (err: Error) => (failure ??= err);
  const onClose = () =>
    (failure ??= Object.assign(new Error("closed before the SSH handshake"), { code: "ECONNRESET" }));
  socket.on("error", onError);
  socket.once("close", onClose);
  let handedOver = false;
  return {
    endpoint,
    socket,
    failure: () => failure,
    handOver() {
      handedOver = true;
      socket.off("error", onError);
      socket.off("close", onClose);
    },
    abandon() {
      if (!handedOver) socket.destroy();
    },
  };
}
