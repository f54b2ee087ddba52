import { readdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join } from "node:path";
import SSHConfig from "ssh-config";
import { fromSystemError, usage } from "../../util/errors.js";

/** OpenSSH's limit on nested Include (READCONF_MAX_DEPTH). */
const MAX_DEPTH = 16;
const INCLUDE = /^\s*include(?:\s*=\s*|\s+)(.*)$/i;
const BLOCK = /^\s*(host|match)(?:\s*=\s*|\s+)/i;

export interface IncludeContext {
  /** Relative Include paths: ~/.ssh for a user's config, /etc/ssh for the system one. */
  baseDir: string;
  /** The host being resolved, to tell whether an Include inside a Host/Match block applies. */
  query: { Host: string; User?: string };
}

/**
 * Returns the config text with every `Include` replaced by the files it names, like OpenSSH:
 * globs in the last path component (sorted), files that do not exist skipped, an Include inside a
 * Host/Match block followed only when that block applies to the host, and the enclosing block
 * (or the top level) in force again after the included text.
 */
export async function expandIncludes(text: string, ctx: IncludeContext, depth = 0): Promise<string> {
  if (depth > MAX_DEPTH) throw usage(`SSH config: Include nested more than ${MAX_DEPTH} deep`);
  const out: string[] = [];
  let block: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (BLOCK.test(line)) block = line;
    const m = INCLUDE.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    if (block !== undefined && !blockApplies(block, ctx.query)) continue;
    for (const pattern of splitArgs(m[1]!)) {
      for (const file of await matchFiles(pattern, ctx.baseDir)) {
        const included = await readIncluded(file);
        if (included !== undefined) out.push(await expandIncludes(included, ctx, depth + 1));
      }
    }
    // Whatever Host blocks the included text opened, the lines after the Include belong to the
    // block that held it ("Host *" is the top level for the first-value-wins lookup).
    out.push(block ?? "Host *");
  }
  return out.join("\n");
}

/** A named file that does not exist is skipped, as OpenSSH does; other errors are reported. */
async function readIncluded(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fromSystemError(err, `SSH config ${file}`);
  }
}

function blockApplies(header: string, query: IncludeContext["query"]): boolean {
  const probe = SSHConfig.parse(`${header}\n  NitroIncludeProbe yes\n`);
  return probe.compute(query, { ignoreCase: true, matchExec: false })["nitroincludeprobe"] !== undefined;
}

function splitArgs(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

async function matchFiles(pattern: string, baseDir: string): Promise<string[]> {
  const expanded = pattern === "~" ? homedir() : pattern.replace(/^~\//, `${homedir()}/`);
  const path = isAbsolute(expanded) ? expanded : join(baseDir, expanded);
  const name = basename(path);
  if (/[*?[]/.test(dirname(path)))
    throw usage(`SSH config: Include '${pattern}': wildcards are only supported in the file name`);
  if (!/[*?[]/.test(name)) return [path];
  const re = new RegExp(
    `^${name
      .replace(/[.+^${}()|\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
  const entries = await readdir(dirname(path)).catch(() => [] as string[]);
  return entries
    .filter((e) => re.test(e) && !e.startsWith("."))
    .sort()
    .map((e) => join(dirname(path), e));
}
