import { join } from "node:path";
import { flockWithin, releaseFlock } from "./lock.js";

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
    return new GcGuard(await flockWithin(join(dir, "gc.lock"), mode, waitSeconds, () => busy));
  }

  release(): void {
    releaseFlock(this.fd);
    this.fd = -1;
  }
}
