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
    const fd = openLockFile(path);
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      try {
        flockSync(fd, "exnb");
        ftruncateSync(fd, 0);
        writeSync(fd, `${process.pid}\n`, 0);
        return new RepoLock(fd);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "EAGAIN" && code !== "EWOULDBLOCK") {
          closeSync(fd);
          throw err;
        }
        if (Date.now() >= deadline) {
          closeSync(fd);
          const holder = readFileSync(path, "utf8").trim();
          throw new NitroError(
            Exit.LOCKED,
            `repository is locked by another nitro process${holder ? ` (pid ${holder})` : ""}; retry later or raise --lock-wait`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  release(): void {
    if (this.fd < 0) return;
    flockSync(this.fd, "un");
    closeSync(this.fd);
    this.fd = -1;
  }
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
