import { createRequire } from "node:module";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { Exit, NitroError } from "../util/errors.js";

const require = createRequire(import.meta.url);
const { flockSync } = require("fs-ext") as typeof import("fs-ext");

/**
 * Keeps gc out while a push is under way. A push stores its chunks (under the writer lock, which
 * it then releases) before its recipe; a gc in between would take those chunks for unused. So a
 * site receiving frames holds this guard shared until its session ends, and gc holds it
 * exclusive: flock(2) on `gc.lock`, released by the kernel if the process dies.
 */
export class GcGuard {
  private constructor(private fd: number) {}

  /** Shared: any number of pushes at once; waits while a gc runs. */
  static shared(dir: string, waitSeconds: number): Promise<GcGuard> {
    return GcGuard.take(dir, "shnb", waitSeconds, "a gc of this repository is under way");
  }

  /** Exclusive: for gc; waits while a push is under way. */
  static exclusive(dir: string, waitSeconds: number): Promise<GcGuard> {
    return GcGuard.take(dir, "exnb", waitSeconds, "a push to this repository is under way");
  }

  private static async take(
    dir: string,
    mode: "shnb" | "exnb",
    waitSeconds: number,
    busy: string,
  ): Promise<GcGuard> {
    const fd = openSync(join(dir, "gc.lock"), "a+");
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      try {
        flockSync(fd, mode);
        return new GcGuard(fd);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== "EAGAIN" && code !== "EWOULDBLOCK") || Date.now() >= deadline) {
          closeSync(fd);
          if (code === "EAGAIN" || code === "EWOULDBLOCK")
            throw new NitroError(Exit.LOCKED, `${busy}; retry later or raise --lock-wait`);
          throw err;
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
