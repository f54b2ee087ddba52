import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Exit, NitroError } from "../../util/errors.js";
import type { Bucket } from "./bucket.js";
import { LOCKS, lockKey } from "./layout.js";

export type LockMode = "shared" | "exclusive";

/** A lock object's body: who holds it, how, and until when unless refreshed. */
interface LockBody {
  owner: string;
  host: string;
  pid: number;
  mode: LockMode;
  expires: number;
}

/** As restic: a lock not refreshed for this long is stale; holders refresh it well before. */
export const LOCK_TTL_MS = 30 * 60_000;
const REFRESH_MS = 5 * 60_000;

/**
 * Locks as objects under locks/, for an object store has no other: readers and writers of the
 * site take a shared one, gc and repair an exclusive one. Each writes its own object first, then
 * lists the others, so of two that race at least one sees the other (and backs off). A lock past
 * its expiry, or left by a process of this host that is gone (kill -9), is ignored.
 */
export class SiteLocks {
  /** This site object's identity: its own locks never conflict with each other. */
  readonly owner = randomBytes(8).toString("hex");

  constructor(
    private readonly bucket: Bucket,
    private readonly siteName: string,
    private readonly waitSeconds: number,
  ) {}

  /** Takes a lock, waiting up to the lock wait for conflicting ones to go; LOCKED (6) then. */
  async acquire(mode: LockMode): Promise<HeldLock> {
    const deadline = Date.now() + this.waitSeconds * 1000;
    for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
      const id = `${Date.now().toString(36)}-${randomBytes(8).toString("hex")}`;
      const held = new HeldLock(this.bucket, id, this.body(mode));
      await held.write();
      const blocker = await this.conflict(mode, id);
      if (!blocker) return held.start();
      await held.release();
      if (Date.now() + delay > deadline)
        throw new NitroError(
          Exit.LOCKED,
          `site '${this.siteName}' is locked (${blocker.mode}) by ${blocker.host} pid ${blocker.pid} until ` +
            `${new Date(blocker.expires).toISOString()}; try again later (a stale lock expires by itself)`,
        );
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private body(mode: LockMode): LockBody {
    return { owner: this.owner, host: hostname(), pid: process.pid, mode, expires: Date.now() + LOCK_TTL_MS };
  }

  private async conflict(mode: LockMode, mine: string): Promise<LockBody | undefined> {
    for (const o of await this.bucket.list(LOCKS)) {
      if (o.key === lockKey(mine)) continue;
      const body = parseLock(await this.bucket.get(o.key));
      if (!body || body.owner === this.owner || stale(body)) continue;
      if (mode === "exclusive" || body.mode === "exclusive") return body;
    }
    return undefined;
  }
}

export class HeldLock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  constructor(
    private readonly bucket: Bucket,
    readonly id: string,
    private readonly body: LockBody,
  ) {}

  write(): Promise<void> {
    return this.bucket.put(lockKey(this.id), Buffer.from(JSON.stringify(this.body)));
  }

  start(): this {
    this.timer = setInterval(() => {
      this.body.expires = Date.now() + LOCK_TTL_MS;
      this.write().catch(() => undefined); // the next refresh tries again; the TTL leaves room
    }, REFRESH_MS);
    this.timer.unref();
    return this;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.bucket.delete(lockKey(this.id));
  }
}

function parseLock(bytes: Buffer | undefined): LockBody | undefined {
  if (!bytes) return undefined;
  try {
    const v = JSON.parse(bytes.toString("utf8")) as Partial<LockBody>;
    return typeof v.owner === "string" &&
      typeof v.host === "string" &&
      typeof v.pid === "number" &&
      (v.mode === "shared" || v.mode === "exclusive") &&
      typeof v.expires === "number"
      ? (v as LockBody)
      : undefined;
  } catch {
    return undefined; // not a lock of ours: ignored, as restic ignores unreadable ones
  }
}

function stale(lock: LockBody): boolean {
  if (lock.expires < Date.now()) return true;
  if (lock.host !== hostname()) return false;
  try {
    process.kill(lock.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}
