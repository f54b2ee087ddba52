import { createRequire } from "node:module";
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { Exit, NitroError } from "../util/errors.js";

const require = createRequire(import.meta.url);
const { flockSync } = require("fs-ext") as typeof import("fs-ext");

/**
 * One writer per repository at a time, through flock(2): the kernel drops the lock when the
 * process dies, so a crash (or kill -9) never leaves a stale lock behind for cron to trip over.
 */
export class RepoLock {
  private constructor(private fd: number) {}

  static async acquire(path: string, waitSeconds: number): Promise<RepoLock> {
    const fd = await flockWithin(path, "exnb", waitSeconds, () => {
      const holder = readFileSync(path, "utf8").trim();
      return `repository is locked by another nitro process${holder ? ` (pid ${holder})` : ""}`;
    });
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
    } catch (err) {
      releaseFlock(fd);
      throw err;
    }
    return new RepoLock(fd);
  }

  release(): void {
    releaseFlock(this.fd);
    this.fd = -1;
  }
}

/**
 * Takes flock(2) on `path` (created if missing), trying every 100 ms for up to `waitSeconds`;
 * then LOCKED, with `busy()` saying who holds it. Returns the open descriptor holding the lock.
 */
export async function flockWithin(
  path: string,
  mode: "shnb" | "exnb",
  waitSeconds: number,
  busy: () => string,
): Promise<number> {
  const fd = openLockFile(path);
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    try {
      flockSync(fd, mode);
      return fd;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const held = code === "EAGAIN" || code === "EWOULDBLOCK";
      if (!held || Date.now() >= deadline) {
        closeSync(fd);
        if (held) throw new NitroError(Exit.LOCKED, `${busy()}; retry later or raise --lock-wait`);
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Unlocks and closes a descriptor from flockWithin (a negative one: already released). */
export function releaseFlock(fd: number): void {
  if (fd < 0) return;
  flockSync(fd, "un");
  closeSync(fd);
}

function openLockFile(path: string): number {
  try {
    return openSync(path, "a+");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const repo = dirname(path);
    if (code === "EROFS")
      throw new NitroError(
        Exit.FAILURE,
        `repository ${repo} is on a read-only file system; it can only be read`,
      );
    if (code === "EACCES" || code === "EPERM")
      throw new NitroError(
        Exit.FAILURE,
        `repository ${repo}: permission denied (cannot write its lock file)`,
      );
    throw err;
  }
}
