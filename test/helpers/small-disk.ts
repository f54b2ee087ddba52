import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach } from "vitest";

/**
 * A real full disk for the enclosing describe: a tmpfs of `size` (e.g. "24m") mounted at
 * `dir/small`, emptied before each test, unmounted after all (mounting needs root, which CI and
 * this machine have). `before` runs first in beforeAll; `after` runs last in afterAll.
 */
export function useSmallDisk(
  dir: string,
  size: string,
  hooks: { before?: () => void; after?: () => void } = {},
) {
  const mnt = join(dir, "small");
  beforeAll(() => {
    hooks.before?.();
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", mnt]);
  });
  beforeEach(() => {
    for (const f of readdirSync(mnt)) rmSync(join(mnt, f), { recursive: true });
  });
  afterAll(() => {
    execFileSync("umount", [mnt]);
    hooks.after?.();
  });
  return mnt;
}
