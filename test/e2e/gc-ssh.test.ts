import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/data.js";
import {
  Cli,
  MiB,
  SETUP_TIMEOUT,
  addSites,
  parseJson,
  requireBuild,
  sha256File,
  throttledNitro,
  waitFor,
  writeImage,
} from "../helpers/e2e.js";
import { startSshd, type SshdInstance } from "../helpers/sshd.js";

requireBuild();
const t = tempDir("nitro-e2e-gc-ssh-");
const cli = new Cli(join(t.dir, "home"));
const site = join(t.dir, "site-s");
const dest = join(t.dir, "dest");
const other = join(t.dir, "other");
let sshd: SshdInstance;

const keep = writeImage(join(t.dir, "keep.raw"), 24 * MiB, [{ at: 0, size: 24 * MiB, seed: "gc-ssh-keep" }]);
const drop = writeImage(join(t.dir, "drop.raw"), 8 * MiB, [{ at: 0, size: 8 * MiB, seed: "gc-ssh-drop" }]);
const late = writeImage(join(t.dir, "late.raw"), 8 * MiB, [{ at: 0, size: 8 * MiB, seed: "gc-ssh-late" }]);

beforeAll(async () => {
  sshd = await startSshd();
  cli.ok(["--repo", site, "init", "--site", "s"]);
  cli.ok(["--repo", dest, "init", "--site", "d"]);
  cli.ok(["--repo", other, "init", "--site", "o"]);
  // keep and drop share one pack at s; rm drop leaves it 25% unused, so gc rewrites it.
  cli.ok(["--repo", site, "add", keep, drop]);
  cli.ok(["--repo", site, "rm", "drop"]);
}, SETUP_TIMEOUT);

afterAll(async () => {
  await sshd?.destroy();
  t.cleanup();
});

describe("gc at a site beside a pull reading from it and a push writing to it", () => {
  it(
    "both finish identical, and gc reclaims the space",
    async () => {
      // The pull's link to s runs at 6 MB/s: ~4 s for keep, so gc runs while s is sending.
      const slow = throttledNitro(t.dir, "s-slow", 6e6);
      addSites(cli, dest, [{ name: "s", url: `ssh://${sshd.alias}${site}`, remoteCommand: slow.command }]);
      addSites(cli, other, [{ name: "s", url: `ssh://${sshd.alias}${site}` }]);
      const ssh = ["--ssh-config", sshd.sshConfigPath];
      const out = join(t.dir, "pulled.raw");
      const pull = cli.runAsync(["--repo", dest, "--json", "pull", "keep", "-o", out, ...ssh]);
      await waitFor("s to send 4 MiB", () => slow.bytes() > 4 * MiB);
      const gc = cli.runAsync(["--repo", site, "--json", "gc", "--max-unused", "0"]);
      const push = cli.runAsync(["--repo", other, "--json", "push", late, "--to", "s", ...ssh]);
      const finished: string[] = [];
      const settle = <T>(what: string, p: Promise<T>) => p.finally(() => finished.push(what));
      const [pulled, collected, pushed] = await Promise.all([
        settle("pull", pull),
        settle("gc", gc),
        settle("push", push),
      ]);
      // gc retired the pack while s was still sending from it.
      expect(finished.indexOf("gc")).toBeLessThan(finished.indexOf("pull"));
      const report = parseJson<{ packsRewritten: number; bytesReclaimed: number }>(collected, ["gc"]);
      expect(report.packsRewritten).toBe(1);
      expect(report.bytesReclaimed).toBeGreaterThan(7 * MiB);
      expect(slow.bytes()).toBeLessThan(32 * MiB);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(sha256File(out)).toBe(sha256File(keep));
      expect(pushed.code, pushed.stderr).toBe(0);

      const check = cli.json<{ findings: unknown[]; incomplete: string[] }>([
        "--repo",
        site,
        "check",
        "--read-data",
      ]);
      expect(check.findings).toEqual([]);
      expect(check.incomplete).toEqual([]);
      const back = join(t.dir, "late.out");
      cli.ok(["--repo", site, "export", "late", "-o", back]);
      expect(sha256File(back)).toBe(sha256File(late));
    },
    SETUP_TIMEOUT,
  );
});
