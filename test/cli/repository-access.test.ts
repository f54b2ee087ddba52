import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  cpSync,
  mkdirSync,
  openSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NITRO_BIN, nitro } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";

describe("damaged and unusual repositories get a message and an exit code, not a signal", () => {
  const t = tempDir();
  const repo = join(t.dir, "repo");
  const img = join(t.dir, "disk.img");
  writeFileSync(img, pseudoRandom("access", 3_000_000));
  nitro(["--repo", repo, "init"]);
  nitro(["--repo", repo, "add", img, "--name", "a"]);
  const mounts: string[] = [];
  afterAll(() => {
    for (const m of mounts.reverse()) execFileSync("umount", [m]);
    t.cleanup();
  });

  const damaged = (name: string, damage: (dataFile: string) => void): string => {
    const copy = join(t.dir, name);
    cpSync(repo, copy, { recursive: true });
    damage(join(copy, "index", "data.mdb"));
    return copy;
  };

  it.each<[string, (f: string) => void]>([
    ["truncated to 100 bytes", (f) => truncateSync(f, 100)],
    ["truncated to three pages", (f) => truncateSync(f, 3 * 4096)],
    [
      "garbled meta pages",
      (f) => {
        const fd = openSync(f, "r+");
        writeSync(fd, pseudoRandom("garble", 8192), 0, 8192, 0);
        closeSync(fd);
      },
    ],
    [
      "garbled after its meta pages",
      (f) => {
        const fd = openSync(f, "r+");
        const rest = statSync(f).size - 8192;
        writeSync(fd, pseudoRandom("garble-rest", rest), 0, rest, 8192);
        closeSync(fd);
      },
    ],
  ])("an index %s exits 5 naming the file", (what, damage) => {
    const r = nitro(["--repo", damaged(what.replace(/ /g, "-"), damage), "ls"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/index\/data\.mdb is damaged .*restore/);
  });

  it("reads a repository on a read-only mount, and refuses to write to it with exit 1", () => {
    const ro = join(t.dir, "ro");
    mkdirSync(ro);
    execFileSync("mount", ["--bind", repo, ro]);
    mounts.push(ro);
    execFileSync("mount", ["-o", "remount,bind,ro", ro]);
    for (const args of [["ls"], ["info", "a"], ["stats"], ["check", "--read-data"]]) {
      const r = nitro(["--repo", ro, ...args]);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
    }
    const out = join(t.dir, "a.out");
    expect(nitro(["--repo", ro, "export", "a", "-o", out]).code).toBe(0);
    const serve = spawnSync(process.execPath, [NITRO_BIN, "--repo", ro, "serve", "--stdio", "--read-only"], {
      input: "",
    });
    expect(serve.stdout.subarray(0, 8).toString("latin1")).toBe("NITROWP\0");
    const add = nitro(["--repo", ro, "add", img, "--name", "b"]);
    expect(add.code).toBe(1);
    expect(add.stderr).toMatch(/read-only file system/);
    for (const args of [
      ["matrix", "set", "a", "b", "--bandwidth", "1Mbit"],
      ["site", "add", "x", ro],
    ]) {
      const r = nitro(["--repo", ro, ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(/\.json: read-only file system/);
    }
  });

  it("init on a read-only mount says so, with exit 1 (for the mount point and a path under it)", () => {
    const ro = join(t.dir, "ro-empty");
    mkdirSync(ro);
    execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro]);
    mounts.push(ro);
    for (const at of [ro, join(ro, "a", "b")]) {
      const r = nitro(["--repo", at, "init"]);
      expect({ at, code: r.code }).toEqual({ at, code: 1 });
      expect(r.stderr).toContain(`repository ${at}: read-only file system`);
    }
  });

  it("refuses another user's repository with exit 1 and says whose it is", () => {
    const mine = join(t.dir, "private");
    cpSync(repo, mine, { recursive: true });
    chmodSync(mine, 0o700);
    chmodSync(t.dir, 0o755);
    const nobody = Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }));
    const r = spawnSync(process.execPath, [NITRO_BIN, "--repo", mine, "ls"], {
      encoding: "utf8",
      uid: nobody,
      gid: nobody,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/permission denied .*belongs to uid 0/);
  });
});
