import { readFile } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import SSHConfig from "ssh-config";
import { fromSystemError, usage } from "../../util/errors.js";
import { expandIncludes } from "./config-include.js";

/** Everything needed to reach one SSH host, after ~/.ssh/config and explicit options. */
export interface SshEndpoint {
  /** What the user wrote (possibly an alias). */
  alias: string;
  /** The real host name or address to connect to (HostName). */
  host: string;
  port: number;
  user: string;
  /** Explicit identities first, then the config's; empty means "use the defaults". */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** UserKnownHostsFile from the config, if any. */
  knownHostsFiles: string[];
  /** Name under which the host key is looked up in known_hosts (HostKeyAlias). */
  hostKeyAlias?: string;
  /** IdentityAgent from the config: a socket path, or "none" to disable the agent. */
  identityAgent?: string;
  /** ConnectTimeout from the config, in seconds. */
  connectTimeout?: number;
}

export interface ResolveOptions {
  /** ssh_config file to read; default ~/.ssh/config (and /etc/ssh/ssh_config), skipped if absent. */
  configPath?: string;
  /** Explicit values (URL user/port, `-i`) override the config. */
  user?: string;
  port?: number;
  identityFiles?: string[];
}

const SYSTEM_CONFIG = "/etc/ssh/ssh_config";
export const defaultSshConfigPaths = () => [join(homedir(), ".ssh", "config"), SYSTEM_CONFIG];

/**
 * Resolves a host (alias) like OpenSSH does: the first obtained value of each directive wins,
 * IdentityFile accumulates, `Include` is followed (see expandIncludes). `Match exec` is not run
 * (ssh-config's compute would run it in a shell; a cron job should not run arbitrary commands
 * from config).
 */
export async function resolveSshEndpoint(alias: string, opts: ResolveOptions = {}): Promise<SshEndpoint> {
  const paths = opts.configPath ? [opts.configPath] : defaultSshConfigPaths();
  const found: Record<string, string | string[]>[] = [];
  for (const path of paths) {
    const raw = await readConfig(path, opts.configPath !== undefined);
    if (raw === undefined) continue;
    const query = opts.user === undefined ? { Host: alias } : { Host: alias, User: opts.user };
    const baseDir = path === SYSTEM_CONFIG ? "/etc/ssh" : join(homedir(), ".ssh");
    const config = SSHConfig.parse(await expandIncludes(raw, { baseDir, query }));
    found.push(config.compute(query, { ignoreCase: true, matchExec: false }));
  }
  const first = (key: string): string | undefined => {
    for (const c of found) {
      const v = c[key];
      const s = Array.isArray(v) ? v[0] : v;
      if (s !== undefined && s !== "") return s;
    }
    return undefined;
  };
  const all = (key: string): string[] =>
    found.flatMap((c) => {
      const v = c[key];
      return v === undefined ? [] : Array.isArray(v) ? v : [v];
    });

  const host = first("hostname")?.replace(/%h/g, alias) ?? alias;
  const user = opts.user ?? first("user") ?? localUser();
  const port = opts.port ?? parsePort(first("port"), alias);
  const tokens = { alias, host, port, user };
  const expand = (p: string) => expandPath(p, tokens);
  const knownHostsFiles = all("userknownhostsfile")
    .flatMap((v) => v.split(/\s+/))
    .filter((v) => v && v !== "none")
    .map(expand);
  const timeout = first("connecttimeout");
  const agent = first("identityagent");
  const hostKeyAlias = first("hostkeyalias");
  return {
    alias,
    host,
    port,
    user,
    identityFiles: [
      ...(opts.identityFiles ?? []),
      ...all("identityfile")
        .filter((f) => f !== "none")
        .map(expand),
    ],
    identitiesOnly: first("identitiesonly")?.toLowerCase() === "yes",
    knownHostsFiles,
    ...(hostKeyAlias ? { hostKeyAlias } : {}),
    ...(agent
      ? { identityAgent: agent === "none" || agent === "SSH_AUTH_SOCK" ? agent : expand(agent) }
      : {}),
    ...(timeout && Number(timeout) > 0 ? { connectTimeout: Number(timeout) } : {}),
  };
}

async function readConfig(path: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fromSystemError(err, `SSH config ${path}`);
  }
}

function parsePort(text: string | undefined, alias: string): number {
  if (text === undefined) return 22;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw usage(`SSH config: bad Port '${text}' for ${alias}`);
  return port;
}

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? "root";
  }
}

/** Expands `~`, `${VAR}` and the OpenSSH tokens %d %u %r %h %p %n %% in a path. */
export function expandPath(
  p: string,
  t: { alias: string; host: string; port: number; user: string },
): string {
  const home = homedir();
  const withHome = p === "~" ? home : p.startsWith("~/") ? join(home, p.slice(2)) : p;
  const withEnv = withHome.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g,
    (_, name: string) => process.env[name] ?? "",
  );
  const values: Record<string, string> = {
    d: home,
    u: localUser(),
    r: t.user,
    h: t.host,
    p: String(t.port),
    n: t.alias,
    "%": "%",
  };
  return withEnv.replace(/%([durhpn%])/g, (_, k: string) => values[k]!);
}
