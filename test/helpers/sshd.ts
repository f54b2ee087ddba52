import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { openSshChannel, type SshChannelOptions } from "../../src/site/ssh/connect.js";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
/** Listener pids still running, killed when the test process exits so no daemon outlives it. */
const running = new Set<number>();
process.once("exit", () => running.forEach((pid) => signal(pid, "SIGTERM")));

export const SSHD = "/usr/sbin/sshd";
/** The repo's CLI entry, and a remote command that runs it with this very node binary. */
export const NITRO_BIN = fileURLToPath(new URL("../../bin/nitro.js", import.meta.url));
export const REMOTE_NITRO = `${process.execPath} ${NITRO_BIN}`;

export interface SshdInstance {
  host: "127.0.0.1";
  port: number;
  /** Local user: the one sshd lets in (tests run as root here). */
  user: string;
  dir: string;
  hostKeyPath: string;
  clientKeyPath: string;
  /** known_hosts holding this sshd's host key as `[127.0.0.1]:PORT`. */
  knownHostsPath: string;
  /** ssh_config with `Host <alias>` pointing at this sshd (usable by OpenSSH `ssh -F` too). */
  sshConfigPath: string;
  alias: string;
  authorizedKeysPath: string;
  /** `ssh://user@127.0.0.1:PORT<path>` */
  url(path: string): string;
  /**
   * ssh2 options that reach this sshd directly (no ssh_config, no agent): its client key, its
   * known_hosts, the command `echo ok`, each overridable.
   */
  channel(extra?: Partial<SshChannelOptions>): SshChannelOptions;
  /** Adds a public key line, optionally with options (`command="...",restrict`). */
  authorize(publicKey: string, options?: string): Promise<void>;
  /** Generates a new ed25519 key pair in the instance dir (not authorized); returns the private key path. */
  newClientKey(name: string): Promise<string>;
  /** Kills the per-connection sshd processes (cuts live sessions); the listener stays. */
  killConnections(): Promise<void>;
  /**
   * Kills (SIGKILL) the commands run by live sessions whose command line matches `pattern`, e.g.
   * the far `nitro serve`, leaving sshd and the connection up; returns how many it killed.
   */
  killCommands(pattern: RegExp): Promise<number>;
  /** Kills the listener and every session it spawned, waits for them to exit. */
  stop(): Promise<void>;
  /** stop() then start again on the same port with the same keys. */
  restart(): Promise<void>;
  /** stop() and remove the temp dir. */
  destroy(): Promise<void>;
}

export interface SshdOptions {
  /** Extra sshd_config lines, written first: sshd takes a keyword's first value, so they win. */
  extraConfig?: string[];
}

/** Starts a real OpenSSH sshd on 127.0.0.1 with its own temp dir, keys and config. */
export async function startSshd(opts: SshdOptions = {}): Promise<SshdInstance> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} missing: apt-get install -y openssh-server`);
  // Privilege separation directory, required when sshd runs as root.
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 }).catch(() => undefined);
  const dir = await mkdtemp(join(tmpdir(), "nitro-sshd-"));
  const hostKeyPath = join(dir, "ssh_host_ed25519_key");
  const clientKeyPath = join(dir, "id_ed25519");
  const authorizedKeysPath = join(dir, "authorized_keys");
  const knownHostsPath = join(dir, "known_hosts");
  const sshConfigPath = join(dir, "ssh_config");
  const pidFile = join(dir, "sshd.pid");
  const user = userInfo().username;
  await keygen(hostKeyPath);
  await keygen(clientKeyPath);
  await writeFile(authorizedKeysPath, await readFile(`${clientKeyPath}.pub`));
  const hostPub = (await readFile(`${hostKeyPath}.pub`, "utf8")).split(" ").slice(0, 2).join(" ");

  let port = 0;
  const writeConfigs = async () => {
    const alias = `nitro-test-${port}`;
    const path = [
      dirname(process.execPath),
      "/usr/local/sbin",
      "/usr/local/bin",
      "/usr/sbin",
      "/usr/bin",
      "/sbin",
      "/bin",
    ];
    await writeFile(
      join(dir, "sshd_config"),
      [
        ...(opts.extraConfig ?? []),
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKeyPath}`,
        `PidFile ${pidFile}`,
        `AuthorizedKeysFile ${authorizedKeysPath}`,
        "UsePAM no",
        "StrictModes no",
        "MaxStartups 200",
        "MaxSessions 100",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        // SHLVL=1 stops bash from sourcing ~/.bashrc for ssh commands (slow on dev machines).
        `SetEnv PATH=${[...new Set(path)].join(":")} SHLVL=1`,
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${hostPub}\n`);
    await writeFile(
      sshConfigPath,
      [
        `Host ${alias}`,
        "  HostName 127.0.0.1",
        `  Port ${port}`,
        `  User ${user}`,
        `  IdentityFile ${clientKeyPath}`,
        "  IdentitiesOnly yes",
        `  UserKnownHostsFile ${knownHostsPath}`,
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        "",
      ].join("\n"),
    );
    return alias;
  };

  const launch = async () => {
    // sshd binds, then daemonises: a zero exit means the port is listening.
    await run(SSHD, ["-f", join(dir, "sshd_config"), "-E", join(dir, "sshd.log")]);
    listenerPid = await waitForPid(pidFile);
    running.add(listenerPid);
  };

  let listenerPid = 0;
  let alias = "";
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    alias = await writeConfigs();
    try {
      await launch();
      break;
    } catch (err) {
      const log = await readFile(join(dir, "sshd.log"), "utf8").catch(() => "");
      if (attempt < 4 && /Address already in use|Cannot bind/i.test(log)) continue;
      await rm(dir, { recursive: true, force: true });
      throw new Error(`sshd failed to start: ${(err as Error).message}\n${log}`);
    }
  }

  const stop = async () => {
    if (!listenerPid) return;
    const pids = [listenerPid, ...(await descendants(listenerPid))];
    for (const pid of pids) signal(pid, "SIGTERM");
    await waitGone(pids, 5000);
    for (const pid of pids.filter(alive)) signal(pid, "SIGKILL");
    await waitGone(pids, 2000);
    await rm(pidFile, { force: true });
    running.delete(listenerPid);
    listenerPid = 0;
  };

  return {
    host: "127.0.0.1",
    port,
    user,
    dir,
    hostKeyPath,
    clientKeyPath,
    knownHostsPath,
    sshConfigPath,
    alias,
    authorizedKeysPath,
    url: (path) => `ssh://${user}@127.0.0.1:${port}${path}`,
    channel: (extra = {}) => ({
      host: "127.0.0.1",
      port,
      user,
      command: "echo ok",
      identityFiles: [clientKeyPath],
      knownHostsPath,
      configPath: "/dev/null",
      agent: false,
      ...extra,
    }),
    authorize: (publicKey, options) =>
      appendFile(authorizedKeysPath, `${options ? `${options} ` : ""}${publicKey.trim()}\n`),
    newClientKey: async (name) => {
      const path = join(dir, name);
      await keygen(path);
      return path;
    },
    killConnections: async () => {
      const pids = await descendants(listenerPid);
      for (const pid of pids) signal(pid, "SIGKILL");
      await waitGone(pids, 5000);
    },
    killCommands: async (pattern) => {
      const pids: number[] = [];
      for (const pid of await descendants(listenerPid)) {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
        if (pattern.test(cmdline.replaceAll("\0", " "))) pids.push(pid);
      }
      for (const pid of pids) signal(pid, "SIGKILL");
      await waitGone(pids, 5000);
      return pids.length;
    },
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    destroy: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function keygen(path: string): Promise<void> {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nitro-test", "-f", path]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPid(pidFile: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const pid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
    if (pid > 0) return pid;
    await sleep(10);
  }
  throw new Error(`sshd did not write ${pidFile}`);
}

/** All processes below `pid`, from /proc (sessions and the commands they run). */
async function descendants(pid: number): Promise<number[]> {
  if (!pid) return [];
  const parent = new Map<number, number>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    // Field 4 (ppid) comes after the parenthesised command name, which may contain spaces.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid) parent.set(Number(name), ppid);
  }
  const out: number[] = [];
  const below = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, ppid] of parent)
      if (below.has(ppid) && !below.has(child)) {
        below.add(child);
        out.push(child);
        grew = true;
      }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function waitGone(pids: number[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pids.every((pid) => !alive(pid))) return;
    await sleep(10);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); it has exited all the same.
    return !/^\d+ \(.*\) Z/.test(readProcStat(pid));
  } catch {
    return false;
  }
}

function readProcStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return "";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command through openSshChannel and returns what it printed on stdout. */
export async function execOutput(opts: SshChannelOptions): Promise<string> {
  const ch = await openSshChannel(opts);
  let out = "";
  ch.stream.on("data", (b: Buffer) => (out += b.toString()));
  await ch.exit;
  await ch.close();
  return out;
}
