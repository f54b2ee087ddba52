import { posix } from "node:path";
import { usage } from "../../util/errors.js";

/** Where an SSH site lives. `host` may be an alias from ~/.ssh/config; IPv6 without brackets. */
export interface SshUrl {
  user?: string;
  host: string;
  port?: number;
  /** Absolute, normalised path of the store on the remote host. */
  path: string;
}

const EXAMPLE = "ssh://[user@]host[:port]/absolute/path";

/** Parses `ssh://[user@]host[:port]/path`; anything else is a usage error. */
export function parseSshUrl(text: string): SshUrl {
  const bad = (why: string) => usage(`invalid SSH site URL '${text}': ${why} (expected ${EXAMPLE})`);
  if (!/^ssh:\/\//i.test(text)) throw bad("it must start with ssh://");
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad("malformed");
  }
  if (url.password) throw bad("passwords are not supported, use keys");
  if (url.search || url.hash) throw bad("no query or fragment allowed");
  const host = decode(url.hostname, bad).toLowerCase();
  if (!host) throw bad("missing host");
  const user = url.username ? decode(url.username, bad) : undefined;
  const port = url.port ? Number(url.port) : undefined;
  if (port === 0) throw bad("port must be 1-65535");
  const rawPath = decode(url.pathname, bad);
  if (!rawPath.startsWith("/") || rawPath === "/") throw bad("missing absolute path");
  const path = posix.normalize(rawPath).replace(/\/+$/, "");
  if (!path) throw bad("the path cannot be /");
  return {
    host: host.startsWith("[") ? host.slice(1, -1) : host,
    path,
    ...(user ? { user } : {}),
    ...(port ? { port } : {}),
  };
}

/** The canonical text form: brackets around IPv6 hosts, port and user only when given. */
export function formatSshUrl(u: SshUrl): string {
  const host = u.host.includes(":") ? `[${u.host}]` : u.host;
  const user = u.user ? `${encodeURIComponent(u.user)}@` : "";
  const port = u.port ? `:${u.port}` : "";
  return `ssh://${user}${host}${port}${u.path}`;
}

function decode(s: string, bad: (why: string) => Error): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad("bad percent-encoding");
  }
}
