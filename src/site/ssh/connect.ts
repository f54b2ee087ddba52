import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { Duplex, type Readable } from "node:stream";
import ssh2 from "ssh2";
import type { ClientChannel, ConnectConfig, ParsedKey } from "ssh2";
import { NitroError, remote } from "../../util/errors.js";
import { trace } from "../../util/trace.js";
import { planAuth, type AuthPlan } from "./auth.js";
import { checkSshCryptoBinding } from "./binding.js";
import type { SshEndpoint } from "./config.js";
import { endpointOf, type Dialed } from "./dial.js";
import { keepaliveRoundTrip } from "./keepalive.js";
import {
  GLOBAL_KNOWN_HOSTS,
  defaultKnownHostsFile,
  knownHostsName,
  knownKeyTypes,
  readKnownHosts,
  verifyHostKey,
} from "./known-hosts.js";

export { checkSshCryptoBinding } from "./binding.js";

export interface SshChannelOptions {
  /** Host or ~/.ssh/config alias, as written in the site URL. */
  host: string;
  /** Explicit user/port (from the URL) override the config. */
  user?: string;
  port?: number;
  /** Remote command, passed to the remote user's shell as is. */
  command: string;
  /**
   * A Unix socket at the far host to open instead of running `command` (OpenSSH's streamlocal
   * forwarding); the command runs where the socket cannot be opened (no server on it, forwarding
   * refused for this key or by sshd_config).
   */
  socketPath?: string;
  /** `-i` identity files; they come before the configured ones. */
  identityFiles?: string[];
  /** ssh_config file; default ~/.ssh/config then /etc/ssh/ssh_config. */
  configPath?: string;
  /** known_hosts file; default UserKnownHostsFile from the config, else ~/.ssh/known_hosts. */
  knownHostsPath?: string;
  /** Like StrictHostKeyChecking=accept-new: record an unknown key, still refuse a changed one. */
  acceptNew?: boolean;
  /** ssh-agent socket; default IdentityAgent / SSH_AUTH_SOCK; false disables the agent. */
  agent?: string | false;
  /** Time allowed for TCP connect + handshake + auth; default ConnectTimeout or 20 s. */
  readyTimeoutMs?: number;
  /** Called once the TCP connection has been asked for: the local steps before it are done. */
  onDial?: () => void;
  /** The connection, already asked for with these options (see dial.ts). */
  dialed?: Dialed;
}

export interface SshExit {
  /** Exit status of the remote command; null if the channel closed without one (killed, cut). */
  code: number | null;
  signal: string | null;
}

export interface SshChannel {
  /**
   * stdin (write side) and stdout (read side) of the remote command. A connection lost before
   * the remote end sent EOF makes it emit an Exit.REMOTE NitroError.
   */
  stream: Duplex;
  /** Must be consumed: stdout and stderr share one SSH window, an unread stderr stalls both. */
  stderr: Readable;
  /** Resolves (never rejects) when the channel closes, which needs stdout read to its end. */
  exit: Promise<SshExit>;
  /**
   * Ends stdin, waits briefly for the command to finish, then closes the connection; with
   * `linger` false, closes the connection at once (the command gets EOF and ends on its own).
   */
  close(linger?: boolean): Promise<void>;
  endpoint: SshEndpoint;
  /** Negotiated client-to-server cipher. */
  cipher: string;
  /** The TCP socket under the connection, for its options only (never read or write it). */
  socket: Socket;
  /** One round trip to the far sshd (see keepaliveRoundTrip); undefined where ssh2 cannot. */
  roundTrip: (() => Promise<void>) | undefined;
}

const require = createRequire(import.meta.url);
const ssh2Defaults = require("ssh2/lib/protocol/constants.js") as {
  DEFAULT_CIPHER: string[];
  DEFAULT_SERVER_HOST_KEY: string[];
};
const PREFERRED_CIPHER = "aes128-gcm@openssh.com";
const HOST_KEY_ALGOS: Record<string, string[]> = { "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] };

/** Connects with ssh2, verifies the host key, authenticates and execs `command`. */
export async function openSshChannel(opts: SshChannelOptions): Promise<SshChannel> {
  try {
    return await connectAndOpen(opts);
  } finally {
    // A socket never handed to ssh2 would stay open: nobody else closes it.
    opts.dialed?.abandon();
  }
}

async function connectAndOpen(opts: SshChannelOptions): Promise<SshChannel> {
  checkSshCryptoBinding();
  const ep = opts.dialed?.endpoint ?? (await endpointOf(opts));
  const knownHostsFiles = opts.knownHostsPath
    ? [opts.knownHostsPath]
    : ep.knownHostsFiles.length
      ? ep.knownHostsFiles
      : [defaultKnownHostsFile(), GLOBAL_KNOWN_HOSTS];
  const auth = await planAuth(ep, {
    ...(opts.identityFiles ? { explicitIdentityFiles: opts.identityFiles } : {}),
    ...(opts.agent !== undefined ? { agent: opts.agent } : {}),
  });
  const where = `${ep.user}@${ep.host}${ep.port === 22 ? "" : `:${ep.port}`}`;
  if (auth.methods.length === 0) throw authError(where, auth);

  const keyName = ep.hostKeyAlias ?? knownHostsName(ep.host, ep.port);
  const knownTypes = knownKeyTypes(await readKnownHosts(knownHostsFiles), keyName);
  const client = new ssh2.Client();
  let hostKeyFailure: NitroError | undefined;
  let cipher = "";
  client.once("handshake", (n) => (cipher = n.cs.cipher));
  const config: ConnectConfig = {
    host: ep.host,
    port: ep.port,
    username: ep.user,
    readyTimeout: opts.readyTimeoutMs ?? (ep.connectTimeout ? ep.connectTimeout * 1000 : 20_000),
    keepaliveInterval: 15_000,
    keepaliveCountMax: 4,
    authHandler: auth.methods,
    algorithms: {
      cipher: preferFirst(ssh2Defaults.DEFAULT_CIPHER, [PREFERRED_CIPHER]) as never,
      serverHostKey: preferFirst(
        ssh2Defaults.DEFAULT_SERVER_HOST_KEY,
        knownTypes.flatMap((t) => HOST_KEY_ALGOS[t] ?? [t]),
      ) as never,
    },
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      const check = {
        host: ep.host,
        port: ep.port,
        files: knownHostsFiles,
        acceptNew: opts.acceptNew === true,
      };
      verifyHostKey(key, ep.hostKeyAlias ? { ...check, hostKeyAlias: ep.hostKeyAlias } : check).then(
        () => verify(true),
        (err: unknown) => {
          hostKeyFailure =
            err instanceof NitroError ? err : remote(`${where}: host key check failed: ${String(err)}`);
          verify(false);
        },
      );
    },
  };

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error & { level?: string; code?: string }) => {
      client.removeListener("ready", onReady);
      client.end();
      reject(hostKeyFailure ?? connectError(err, where, auth));
    };
    const onReady = () => {
      trace(`ssh ${where}: authenticated`);
      client.removeListener("error", onError);
      resolve();
    };
    client.once("error", onError);
    client.once("ready", onReady);
    const dialed = opts.dialed;
    if (dialed) {
      const failure = dialed.failure();
      if (failure) return reject(connectError(failure, where, auth));
      config.sock = dialed.socket;
      dialed.handOver();
    }
    trace(`ssh ${where}: connecting`);
    client.connect(config);
    signFirstTime(client);
    opts.onDial?.();
    // Nagle's algorithm holds a small message back until the previous one is acknowledged, and
    // the peer delays that ack by up to 40 ms: round trips measured through ssh2 came out 2-3x
    // too high. connect() has created the socket; Node applies the option once it connects.
    client.setNoDelay(true);
  });

  let channel: ClientChannel;
  try {
    channel =
      (opts.socketPath !== undefined && (await openSocket(client, opts.socketPath, where))) ||
      (await new Promise<ClientChannel>((resolve, reject) => {
        client.once("error", reject);
        client.exec(opts.command, (err, ch) => {
          client.removeListener("error", reject);
          if (err) reject(err);
          else {
            trace(`ssh ${where}: command started`);
            resolve(ch);
          }
        });
      }));
  } catch (err) {
    client.end();
    throw remote(`${where}: cannot run '${opts.command}': ${(err as Error).message}`);
  }
  return wrapChannel(client, channel, ep, where, cipher);
}

/** The channel to a far Unix socket, or undefined if sshd could not open it (one round trip). */
function openSocket(client: ssh2.Client, path: string, where: string): Promise<ClientChannel | undefined> {
  return new Promise((resolve, reject) => {
    client.once("error", reject);
    client.openssh_forwardOutStreamLocal(path, (err, ch) => {
      client.removeListener("error", reject);
      trace(`ssh ${where}: ${err ? `no server on ${path} (${err.message})` : `socket ${path} open`}`);
      resolve(err ? undefined : ch);
    });
  });
}

function wrapChannel(
  client: ssh2.Client,
  channel: ClientChannel,
  endpoint: SshEndpoint,
  where: string,
  cipher: string,
): SshChannel {
  // The status from 'close', not 'exit': ssh2 emits 'exit' as it parses the request, which can be
  // in the same read as the channel's opening (a command that ends at once), before this function
  // runs; 'close' waits for stdout to be read, and carries the status (a socket channel has none).
  const exit = new Promise<SshExit>((resolve) =>
    channel.once("close", (code?: number | null, signal?: string) =>
      resolve({ code: code ?? null, signal: signal ?? null }),
    ),
  );
  const channelClosed = exit.then(() => undefined);
  const clientClosed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  // A connection lost mid-session must reach the stream's reader as an error, not as a clean
  // end. ssh2's own Channel.destroy() ignores its error argument, hence the Duplex one.
  const incoming = (channel as unknown as { incoming: { state: string } }).incoming;
  const fail = (msg: string) => {
    if (!channel.destroyed && incoming.state === "open") Duplex.prototype.destroy.call(channel, remote(msg));
  };
  client.on("error", (err: Error) => fail(`connection to ${where} lost: ${err.message}`));
  client.once("end", () => fail(`connection to ${where} closed`));
  client.once("close", () => fail(`connection to ${where} closed`));
  let closing: Promise<void> | undefined;
  const close = (linger = true) =>
    (closing ??= (async () => {
      if (!channel.destroyed && !channel.writableEnded) channel.end();
      if (!linger) return void client.end();
      await Promise.race([channelClosed, delay(2000)]);
      client.end();
      await Promise.race([clientClosed, delay(2000)]);
      client.destroy();
    })());
  const socket = (client as unknown as { _sock: Socket })._sock;
  const roundTrip = keepaliveRoundTrip(client, where);
  return { stream: channel, stderr: channel.stderr, exit, close, endpoint, cipher, socket, roundTrip };
}

function preferFirst(defaults: string[], preferred: string[]): string[] {
  const front = preferred.filter((a) => defaults.includes(a));
  return [...new Set([...front, ...defaults])];
}

function connectError(
  err: Error & { level?: string; code?: string },
  where: string,
  auth: AuthPlan,
): NitroError {
  if (err.level === "client-authentication") return authError(where, auth);
  if (err.level === "client-timeout")
    return remote(`${where}: timed out while connecting (no SSH handshake)`);
  switch (err.code) {
    case "ECONNREFUSED":
      return remote(`${where}: connection refused (is sshd running on that port?)`);
    case "ETIMEDOUT":
      return remote(`${where}: connection timed out`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return remote(`${where}: cannot resolve host name`);
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return remote(`${where}: host unreachable`);
    case "ECONNRESET":
      return remote(`${where}: connection reset during the SSH handshake`);
  }
  return remote(`${where}: SSH connection failed: ${err.message}`);
}

function authError(where: string, auth: AuthPlan): NitroError {
  const offered = auth.offered.length ? `tried ${auth.offered.join(", ")}` : "no usable key or agent";
  const skipped = auth.skipped.length ? `; skipped ${auth.skipped.join(", ")}` : "";
  return remote(`permission denied (publickey) for ${where} (${offered}${skipped})`);
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** The part of ssh2's protocol object that sends a publickey USERAUTH_REQUEST (not in its types). */
interface PublicKeyAuth {
  authPK(
    user: string,
    key: ParsedKey | Buffer,
    keyAlgo: string | undefined,
    sign?: (data: Buffer, send: (signature: Buffer) => void) => void,
  ): void;
}

/**
 * ssh2 first asks whether the server would take a key, and signs once it says yes: one round trip
 * more than needed for a key held in memory (OpenSSH asks first too, for keys that are costly to
 * use). Here the first request carries the signature; a server that refuses the key answers it as
 * it would the question, and ssh2 goes on to its next key. Keys of an agent are asked about first,
 * as before. Without ssh2's protocol object where this version keeps it, nothing changes.
 */
function signFirstTime(client: ssh2.Client): void {
  const proto = (client as unknown as { _protocol?: Partial<PublicKeyAuth> })._protocol;
  if (typeof proto?.authPK !== "function") return;
  const authPK = proto.authPK.bind(proto);
  proto.authPK = (user, key, keyAlgo, sign) => {
    const own =
      !sign && typeof (key as Partial<ParsedKey>).isPrivateKey === "function"
        ? (key as ParsedKey)
        : undefined;
    if (!own?.isPrivateKey()) return authPK(user, key, keyAlgo, sign);
    authPK(user, key, keyAlgo, (data, send) => {
      // ssh2's keys give an Error rather than throw.
      const signature: Buffer | Error = own.sign(data, keyAlgo && RSA_HASH[keyAlgo]);
      if (signature instanceof Error) client.emit("error", signature);
      else send(signature);
    });
  };
}

/** The hash of each RSA signature algorithm ssh2 may pick (other key types have one of their own). */
const RSA_HASH: Record<string, string> = {
  "rsa-sha2-256": "sha256",
  "rsa-sha2-512": "sha512",
  "ssh-rsa": "sha1",
};
