import { spawn } from "node:child_process";
import { isAbsolute } from "node:path";
import type { Readable } from "node:stream";
import type { OpenSiteOptions } from "../site/kinds.js";
import { shellQuote, sshChannelTo } from "../site/kinds/ssh.js";
import type { SiteConfig } from "../site/registry.js";
import { Exit, NitroError, remote, usage } from "../util/errors.js";
import { localExitCode, quoteRemoteText } from "../wire/remote-error.js";

/** How a nitro command run at a site ended: its exit code (null if killed or cut) and its words. */
export interface SiteRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunAtSiteOptions extends OpenSiteOptions {
  /** Each complete line the far command writes on stdout, as it comes. */
  onLine?(line: string): void;
  /** Bytes written to the far command's stdin, then closed. */
  input?: string;
}

const MAX_STDERR = 16 * 1024;

/**
 * Runs `nitro --repo PATH ARGS...` at a site, as that site: over SSH with the site's remote
 * command (so it uses its own site list, matrix and keys), or for a local directory as a child of
 * this very nitro. Never rejects for the far command's failure: the caller reads `code`.
 */
export async function runNitroAt(
  cfg: SiteConfig,
  args: string[],
  opts: RunAtSiteOptions = {},
): Promise<SiteRun> {
  const local = localPath(cfg.url);
  if (local !== undefined) return runLocal(local, args, opts);
  const { openSshChannel } = await import("../site/ssh/connect.js");
  const channel = await openSshChannel(
    sshChannelTo(cfg, opts, (nitro, repo) => [nitro, "--repo", repo, ...args.map(shellQuote)].join(" ")),
  );
  try {
    const out = collect(channel.stream, opts.onLine);
    const err = collect(channel.stderr);
    channel.stream.end(opts.input ?? "");
    const [stdout, stderr] = await Promise.all([out, err]);
    const { code } = await channel.exit;
    return { code, stdout, stderr };
  } finally {
    await channel.close();
  }
}

function localPath(url: string): string | undefined {
  if (url.toLowerCase().startsWith("file://")) return decodeURIComponent(url.slice("file://".length));
  return isAbsolute(url) ? url : undefined;
}

function runLocal(path: string, args: string[], opts: RunAtSiteOptions): Promise<SiteRun> {
  const entry = process.argv[1];
  if (!entry) throw usage("cannot find this nitro's entry script to run it for a local site");
  const child = spawn(process.execPath, [entry, "--repo", path, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const out = collect(child.stdout, opts.onLine);
  const err = collect(child.stderr);
  child.stdin.end(opts.input ?? "");
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      void Promise.all([out, err]).then(([stdout, stderr]) => resolve({ code, stdout, stderr }), reject);
    });
  });
}

/** A stream read to its end; stdout is kept whole and split into lines, stderr kept to 16 KiB. */
function collect(stream: Readable, onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    let pending = "";
    stream.on("data", (d: Buffer) => {
      const s = d.toString("utf8");
      if (!onLine) {
        if (text.length < MAX_STDERR) text += s;
        return;
      }
      text += s;
      pending += s;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      lines.forEach((l) => onLine(l));
    });
    stream.once("end", () => {
      if (onLine && pending) onLine(pending);
      resolve(text);
    });
    stream.once("error", reject);
  });
}

/**
 * The result of a `--json` nitro command run at a site: its JSON document when it exited 0, else
 * a NitroError carrying its message and its exit code, as if the command had run here.
 */
export function siteResult<T>(site: string, run: SiteRun): T {
  if (run.code === 0) {
    try {
      return JSON.parse(run.stdout) as T;
    } catch {
      throw remote(`${site}: nitro printed no JSON result (${quoteRemoteText(run.stdout.slice(0, 200))})`);
    }
  }
  const failure = lastJsonError(run.stdout);
  if (failure) return failWith(site, failure.exitCode, failure.error);
  const why = run.stderr.trim().split("\n").pop() ?? "";
  if (run.code === null)
    throw remote(`${site}: nitro was stopped before it finished${why ? ` (${quoteRemoteText(why)})` : ""}`);
  // 127: the shell found no nitro there.
  if (run.code === 127)
    throw remote(
      `${site}: cannot run nitro there (${quoteRemoteText(why) || "command not found"}); set the site's --remote-command`,
    );
  return failWith(site, run.code, why || `nitro exited ${run.code}`);
}

function failWith(site: string, code: number, message: string): never {
  // HOST_KEY at the site is the site's SSH trouble, which means the same to the operator here.
  const exit = code === Exit.HOST_KEY ? Exit.HOST_KEY : localExitCode(code);
  throw new NitroError(exit, `${site}: ${quoteRemoteText(message)}`);
}

function lastJsonError(stdout: string): { error: string; exitCode: number } | undefined {
  const lines = stdout.trim().split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v = JSON.parse(lines[i]!) as { error?: unknown; exitCode?: unknown };
      if (typeof v.error === "string" && typeof v.exitCode === "number")
        return { error: v.error, exitCode: v.exitCode };
    } catch {
      // not a JSON line
    }
  }
  return undefined;
}

export interface RemotePullOptions extends OpenSiteOptions {
  /** Extra `pull` options passed on (objective, strategy). */
  pullArgs?: string[];
}

/**
 * `nitro pull IMAGE --json` executed at site `cfg` (that site is the destination): the far
 * command's pull report, or its failure with its own exit code.
 */
export async function remotePull<T = unknown>(
  cfg: SiteConfig,
  image: string,
  opts: RemotePullOptions = {},
): Promise<T> {
  const run = await runNitroAt(
    cfg,
    ["--json", "--no-progress", "pull", image, ...(opts.pullArgs ?? [])],
    opts,
  );
  return siteResult<T>(cfg.name, run);
}

/** The `pull` options that mean the same at the far site, as arguments to pass on. */
export function forwardedPullArgs(o: {
  objective?: string;
  deadline?: string;
  strategy?: string;
  output?: string;
  force?: boolean;
}): string[] {
  return [
    ...(o.objective ? ["--objective", o.objective] : []),
    ...(o.deadline ? ["--deadline", o.deadline] : []),
    ...(o.strategy ? ["--strategy", o.strategy] : []),
    ...(o.output ? ["-o", o.output] : []),
    ...(o.force ? ["--force"] : []),
  ];
}
