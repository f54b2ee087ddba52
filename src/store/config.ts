import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Exit, NitroError, fromSystemError, notFound } from "../util/errors.js";
import type { ChunkerParams } from "./types.js";

export const REPO_FORMAT = "nitro-repository";
/** 2: the image digest is over the recipe's chunk list (version 1 hashed 4 MiB blocks). */
export const REPO_VERSION = 2;

export interface StoreConfig {
  format: typeof REPO_FORMAT;
  version: number;
  /** Name of the site this node belongs to. */
  site: string;
  chunker: ChunkerParams;
  compression: { codec: "zstd" | "none"; level: number };
  created: string;
}

export const configPath = (dir: string) => join(dir, "nitro.json");

export function readConfig(dir: string): StoreConfig {
  const path = configPath(dir);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw unreadableConfig(dir, err);
  }
  let cfg: StoreConfig;
  try {
    cfg = JSON.parse(text) as StoreConfig;
  } catch {
    throw new NitroError(Exit.CORRUPT, `${path} is not valid JSON`);
  }
  if (cfg.format !== REPO_FORMAT) throw new NitroError(Exit.CORRUPT, `${dir} is not a nitro repository`);
  if (cfg.version !== REPO_VERSION)
    throw new NitroError(
      Exit.CORRUPT,
      `repository ${dir} has format version ${cfg.version}; this nitro reads version ${REPO_VERSION}`,
    );
  return cfg;
}

function unreadableConfig(dir: string, err: unknown): NitroError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR")
    return notFound(`no nitro repository at ${dir} (create one with 'nitro init', or pass --repo)`);
  if (code === "EACCES" || code === "EPERM")
    return new NitroError(Exit.FAILURE, `repository ${dir}: permission denied${owner(dir)}`);
  if (code === "EISDIR") return new NitroError(Exit.CORRUPT, `${configPath(dir)} is a directory`);
  return new NitroError(Exit.FAILURE, `repository ${dir}: ${(err as Error).message}`);
}

/** ", owned by uid N" when the repository is another user's (the usual cause of EACCES). */
function owner(dir: string): string {
  try {
    const { uid } = statSync(dir);
    return process.getuid && uid !== process.getuid()
      ? ` (it belongs to uid ${uid}; run nitro as that user)`
      : "";
  } catch {
    return "";
  }
}

/** Writes a small file atomically: temp file, then rename. */
export function writeFileAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fromSystemError(err, path);
  }
}
