import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { appendFile, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { Exit, NitroError, fromSystemError } from "../../util/errors.js";
import { makeDirs } from "../../util/make-dirs.js";

export const defaultKnownHostsFile = () => join(homedir(), ".ssh", "known_hosts");
export const GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts";

export interface KnownHostEntry {
  file: string;
  line: number;
  marker?: "@revoked" | "@cert-authority";
  /** Comma-separated patterns, or a hashed `|1|salt|hash` name. */
  hosts: string;
  keyType: string;
  key: Buffer;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Reads known_hosts files; missing files count as empty, unparsable lines are skipped. */
export async function readKnownHosts(files: string[]): Promise<KnownHostEntry[]> {
  const entries: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw fromSystemError(err, `known_hosts file ${file}`);
    }
    text.split("\n").forEach((raw, i) => {
      const entry = parseLine(raw, file, i + 1);
      if (entry) entries.push(entry);
    });
  }
  return entries;
}

function parseLine(raw: string, file: string, line: number): KnownHostEntry | undefined {
  const fields = raw.trim().split(/\s+/);
  if (!fields[0] || fields[0].startsWith("#")) return undefined;
  const marker = fields[0].startsWith("@") ? fields.shift() : undefined;
  if (marker !== undefined && marker !== "@revoked" && marker !== "@cert-authority") return undefined;
  const [hosts, keyType, b64] = fields;
  if (!hosts || !keyType || !b64) return undefined;
  const key = Buffer.from(b64, "base64");
  if (blobKeyType(key) !== keyType) return undefined;
  return { file, line, hosts, keyType, key, ...(marker ? { marker } : {}) };
}

/** The algorithm name written at the start of an SSH public key blob. */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  return len > 0 && 4 + len <= blob.length ? blob.toString("latin1", 4, 4 + len) : undefined;
}

/** `ED25519 SHA256:...`, as OpenSSH prints it. */
export function fingerprint(blob: Buffer): string {
  const type = (blobKeyType(blob) ?? "unknown").replace(/^ssh-/, "").replace(/-.*$/, "").toUpperCase();
  return `${type} SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Whether an entry's host field names `name` (patterns with `*`, `?`, `!`, or a hashed name). */
export function entryMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith("|1|")) return hashedMatches(hosts, name);
  let matched = false;
  for (const pattern of hosts.split(",")) {
    const negated = pattern.startsWith("!");
    if (!globMatch(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function hashedMatches(hosts: string, name: string): boolean {
  const [, , salt, hash] = hosts.split("|");
  if (!salt || !hash) return false;
  const want = Buffer.from(hash, "base64");
  const got = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "i").test(name);
}

export type HostKeyStatus =
  | { status: "known"; entry: KnownHostEntry }
  | { status: "unknown" }
  | { status: "changed"; entries: KnownHostEntry[] }
  | { status: "revoked"; entry: KnownHostEntry };

/**
 * Looks a presented key up. Any known key for the host that differs from the presented one
 * makes it "changed", whatever its type: the client asks for the known types first (see
 * knownKeyTypes), so a server offering another type than the ones on record is suspect too.
 */
export function checkHostKey(entries: KnownHostEntry[], name: string, key: Buffer): HostKeyStatus {
  const revoked = entries.find((e) => e.marker === "@revoked" && e.key.equals(key));
  if (revoked) return { status: "revoked", entry: revoked };
  const forHost = entries.filter((e) => e.marker === undefined && entryMatches(e.hosts, name));
  const same = forHost.find((e) => e.key.equals(key));
  if (same) return { status: "known", entry: same };
  return forHost.length ? { status: "changed", entries: forHost } : { status: "unknown" };
}

/** Key types on record for a host, so the client can ask the server for those first. */
export function knownKeyTypes(entries: KnownHostEntry[], name: string): string[] {
  const types = entries
    .filter((e) => e.marker === undefined && entryMatches(e.hosts, name))
    .map((e) => e.keyType);
  return [...new Set(types)];
}

export interface VerifyOptions {
  host: string;
  port: number;
  /** Looked up instead of host/port when set (HostKeyAlias). */
  hostKeyAlias?: string;
  /** Files to read; the first one is where accept-new appends. */
  files: string[];
  acceptNew: boolean;
}

/** Verifies a server's host key; throws a HOST_KEY NitroError unless it is known (or accepted as new). */
export async function verifyHostKey(key: Buffer, opts: VerifyOptions): Promise<void> {
  const name = opts.hostKeyAlias ?? knownHostsName(opts.host, opts.port);
  const check = checkHostKey(await readKnownHosts(opts.files), name, key);
  const primary = opts.files[0] ?? defaultKnownHostsFile();
  switch (check.status) {
    case "known":
      return;
    case "revoked":
      throw hostKeyError(
        `host key ${fingerprint(key)} of ${name} is marked @revoked in ${check.entry.file}:${check.entry.line}; refusing to connect`,
      );
    case "changed": {
      const where = check.entries.map((e) => `${e.file}:${e.line}`).join(", ");
      throw hostKeyError(
        `HOST KEY OF ${name} HAS CHANGED: the server offered ${fingerprint(key)}, which does not match ${where}. ` +
          `Someone could be intercepting the connection (man-in-the-middle), or the host was reinstalled. ` +
          `Refusing to connect. If the change is expected, remove the old key with: ssh-keygen -R '${name}' -f ${check.entries[0]!.file}`,
      );
    }
    case "unknown":
      if (!opts.acceptNew)
        throw hostKeyError(
          `host key of ${name} is unknown (${fingerprint(key)}), refusing to connect. ` +
            `Check it and add it to ${primary} (ssh-keyscan ${opts.port === 22 ? "" : `-p ${opts.port} `}${opts.host} >> ${primary}), ` +
            `or rerun with --accept-new to trust it on first use`,
        );
      await appendKnownHost(primary, name, key);
  }
}

async function appendKnownHost(file: string, name: string, key: Buffer): Promise<void> {
  const line = `${name} ${blobKeyType(key)} ${key.toString("base64")}\n`;
  try {
    makeDirs(dirname(file), 0o700);
    const existing = await readFile(file, "utf8").catch(() => "");
    const sep = existing && !existing.endsWith("\n") ? "\n" : "";
    await appendFile(file, sep + line, { mode: 0o600 });
  } catch (err) {
    throw fromSystemError(err, `cannot add the host key of ${name} to ${file}`);
  }
}

const hostKeyError = (msg: string) => new NitroError(Exit.HOST_KEY, msg);
