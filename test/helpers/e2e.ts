import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FRAME_HEADER_BYTES, FRAME_MAGIC } from "../../src/store/pack.js";
import { uniqueChunks } from "../../src/store/recipe.js";
import { Store } from "../../src/store/store.js";
import { ENTRY_BYTES } from "../../src/store/types.js";
import { nitro, nitroAsync, type CliRun } from "./cli.js";
import { pseudoRandom, pseudoText, writeSparse } from "./data.js";
import { NITRO_BIN, REMOTE_NITRO, type SshdInstance } from "./sshd.js";

export const MiB = 1024 * 1024;
/** Generous hook timeout: a cold start runs a dozen CLI processes on a shared 2-vCPU machine. */
export const SETUP_TIMEOUT = 180_000;

const DIST_MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/** The e2e tests run the built CLI (here and behind sshd): `npm test` builds it first. */
export function requireBuild(): void {
  if (!existsSync(DIST_MAIN)) throw new Error(`${DIST_MAIN} missing: run 'npm run build' first`);
}

/**
 * Runs the CLI as a cron job would, isolated from the user's SSH set-up: HOME points at an
 * empty directory (no ~/.ssh/config, known_hosts or default keys) and no ssh-agent, so every
 * key and known host comes from the options and site configs the test gives.
 */
export class Cli {
  readonly env: Record<string, string>;

  constructor(home: string) {
    mkdirSync(home, { recursive: true });
    this.env = { HOME: home, SSH_AUTH_SOCK: "" };
  }

  run(args: string[]): CliRun {
    return nitro(args, this.env);
  }

  runAsync(args: string[]): Promise<CliRun> {
    return nitroAsync(args, this.env);
  }

  /** Runs with --json and parses stdout; throws with stderr unless it exits 0. */
  json<T>(args: string[]): T {
    return parseJson<T>(this.run(["--json", ...args]), args);
  }

  ok(args: string[]): CliRun {
    const r = this.run(args);
    if (r.code !== 0) throw new Error(`nitro ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r;
  }

  async okAsync(args: string[]): Promise<CliRun> {
    const r = await this.runAsync(args);
    if (r.code !== 0) throw new Error(`nitro ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r;
  }
}

export function parseJson<T>(r: CliRun, args: string[]): T {
  if (r.code !== 0) throw new Error(`nitro ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface SiteSpec {
  name: string;
  url: string;
  remoteCommand?: string;
  identity?: string;
}

/** `nitro site add` for each, in order (they share one sites.json, so never in parallel). */
export function addSites(cli: Cli, repo: string, sites: SiteSpec[], force = false): void {
  for (const s of sites)
    cli.ok([
      "--repo",
      repo,
      "site",
      "add",
      s.name,
      s.url,
      // Local sites take no remote command.
      ...(s.url.startsWith("ssh://") ? ["--remote-command", s.remoteCommand ?? REMOTE_NITRO] : []),
      ...(s.identity ? ["--identity", s.identity] : []),
      ...(force ? ["--force"] : []),
    ]);
}

/** One known_hosts file holding the host keys of several sshd instances. */
export function combinedKnownHosts(sshds: SshdInstance[], path: string): string {
  writeFileSync(path, sshds.map((s) => readFileSync(s.knownHostsPath, "utf8")).join(""));
  return path;
}

/** One ssh_config with each instance's `Host nitro-test-PORT` block (key, port, known_hosts). */
export function combinedSshConfig(sshds: SshdInstance[], path: string): string {
  writeFileSync(path, sshds.map((s) => readFileSync(s.sshConfigPath, "utf8")).join("\n"));
  return path;
}

export interface Region {
  at: number;
  size: number;
  seed: string;
  /** Compressible text instead of incompressible bytes. */
  text?: boolean;
}

/**
 * A sparse image made of regions separated by holes of at least 1 MiB: the scanner chunks each
 * data run on its own, so a region gives the same chunks in every image that holds it.
 */
export function writeImage(path: string, size: number, regions: Region[]): string {
  writeSparse(
    path,
    size,
    regions.map((r) => ({ at: r.at, data: (r.text ? pseudoText : pseudoRandom)(r.seed, r.size) })),
  );
  return path;
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Opens a repository with the Store class (read-only use), runs fn, closes it. */
export async function withRepo<T>(dir: string, fn: (s: Store) => T | Promise<T>): Promise<T> {
  const s = Store.open(dir);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** The distinct stored chunks (hex ids) of an image recorded in a repository. */
export function imageChunks(dir: string, image: string): Promise<Set<string>> {
  return withRepo(dir, (s) => {
    const r = s.getRecipe(image);
    if (!r) throw new Error(`${dir} has no image ${image}`);
    return new Set(uniqueChunks(r).ids.map((id) => id.toString("hex")));
  });
}

export interface Holdings {
  /** Chunks in the index (the store's counter). */
  chunks: number;
  /** Of `ids`, how many the store holds. */
  held: number;
  images: string[];
}

export function holdings(dir: string, ids: Iterable<string> = []): Promise<Holdings> {
  return withRepo(dir, (s) => {
    const wanted = [...ids].map((h) => Buffer.from(h, "hex"));
    return {
      chunks: s.stats().chunks,
      held: s.has(wanted).filter(Boolean).length,
      images: s.listRecipes().map((r) => r.name),
    };
  });
}

export const union = (...sets: Array<Set<string>>) => new Set(sets.flatMap((s) => [...s]));

/**
 * Flips one byte in the middle of every frame's payload in a repository's packs (headers and
 * ids stay intact, so the index still points at them): every stored chunk is then corrupt.
 */
export function corruptPacks(repo: string): number {
  const packs = join(repo, "packs");
  let flipped = 0;
  for (const name of readdirSync(packs).filter((f) => f.endsWith(".pack"))) {
    const fd = openSync(join(packs, name), "r+");
    try {
      const size = statSync(join(packs, name)).size;
      const head = Buffer.alloc(FRAME_HEADER_BYTES);
      for (let at = 0; at + FRAME_HEADER_BYTES <= size;) {
        readSync(fd, head, 0, FRAME_HEADER_BYTES, at);
        if (head.readUInt32LE(0) !== FRAME_MAGIC) break;
        const headerLength = FRAME_HEADER_BYTES + head.readUInt16LE(6) * ENTRY_BYTES;
        const payloadLength = head.readUInt32LE(12);
        const pos = at + headerLength + (payloadLength >>> 1);
        const b = Buffer.alloc(1);
        readSync(fd, b, 0, 1, pos);
        b[0]! ^= 0xff;
        writeSync(fd, b, 0, 1, pos);
        flipped++;
        at += headerLength + payloadLength;
      }
    } finally {
      closeSync(fd);
    }
  }
  return flipped;
}

const THROTTLE_SCRIPT = `// Runs a command with its stdin and stdout together limited to RATE bytes/s (an emulated slow
// link), keeping the bytes passed so far in COUNT_FILE. Usage: RATE COUNT_FILE CMD ARGS...
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
const [rate, countFile, cmd, ...args] = process.argv.slice(2);
const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "inherit"] });
const PIECE = 16 * 1024;
let passed = 0;
let next = Date.now();
const save = () => writeFileSync(countFile, String(passed));
setInterval(save, 20).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function pump(from, to) {
  for await (const chunk of from) {
    for (let o = 0; o < chunk.length; o += PIECE) {
      const piece = chunk.subarray(o, o + PIECE);
      passed += piece.length;
      // A token bucket holding at most 50 ms of credit: an idle link does not save up a burst.
      const now = Date.now();
      next = Math.max(next, now - 50) + (piece.length / Number(rate)) * 1000;
      if (next > now) await sleep(next - now);
      if (!to.write(piece)) await new Promise((r) => to.once("drain", r));
    }
  }
  await new Promise((r) => to.end(r));
}
pump(process.stdin, child.stdin).catch(() => child.stdin.destroy());
const down = pump(child.stdout, process.stdout);
// Exit with the command: sshd sends EOF only once stderr closes too, which needs this process gone.
child.on("close", (code) => {
  save();
  down.finally(() => process.exit(code ?? 1));
});
`;

export interface Throttled {
  /** A --remote-command running this repo's CLI behind the throttle. */
  command: string;
  /** Bytes passed through the throttle (both directions) by the latest session. */
  bytes(): number;
}

/** A remote command whose link is emulated at `rate` bytes/s (both ways together), with a byte counter. */
export function throttledNitro(dir: string, name: string, rate: number): Throttled {
  const script = join(dir, "throttle.mjs");
  if (!existsSync(script)) writeFileSync(script, THROTTLE_SCRIPT);
  const countFile = join(dir, `${name}.bytes`);
  writeFileSync(countFile, "0");
  return {
    command: `${process.execPath} ${script} ${rate} ${countFile} ${process.execPath} ${NITRO_BIN}`,
    bytes: () => Number(readFileSync(countFile, "utf8")) || 0,
  };
}

export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
