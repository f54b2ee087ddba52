import { cpSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PullReport } from "../../src/transfer/pull.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import {
  Cli,
  MiB,
  SETUP_TIMEOUT,
  addSites,
  combinedSshConfig,
  corruptPacks,
  holdings,
  imageChunks,
  parseJson,
  requireBuild,
  sha256File,
  throttledNitro,
  waitFor,
  withRepo,
  writeImage,
  type Region,
} from "../helpers/e2e.js";
import { startSshd, type SshdInstance } from "../helpers/sshd.js";

interface PlanJson {
  chunks: number;
  missing: number;
  unassigned: number;
  makespan: number;
  lowerBound: number;
  ratio: number;
  sites: Array<{ site: string; chunks: number; bytes: number; bandwidth: number }>;
}

interface ProbeJson {
  site: string;
  to: string;
  bandwidth: number;
  rtt: number;
  bytes: number;
}

requireBuild();
const t = tempDir("nitro-e2e-pull-");
const cli = new Cli(join(t.dir, "home"));
const origin = join(t.dir, "origin");
const template = join(t.dir, "dest-template");
const repo = (name: string) => join(t.dir, `site-${name}`);
let sshds: Record<"a" | "b" | "c", SshdInstance>;
let sshConfig: string;
const sshUrl = (site: "a" | "b" | "c", path = repo(site)) => `ssh://${sshds[site].alias}${path}`;

// Six regions of 2 MiB (one of them compressible) 4 MiB apart; each site holds four of them, so
// every region is at exactly two sites: the other two can always stand in for any one.
const R = [1, 2, 3, 4, 5, 6].map((k): Region => ({
  at: (k - 1) * 4 * MiB,
  size: 2 * MiB,
  seed: `region-${k}`,
  text: k === 4,
}));
const pick = (...ks: number[]) => ks.map((k) => R[k - 1]!);
const image = (name: string, size: number, regions: Region[]) =>
  writeImage(join(t.dir, `${name}.raw`), size, regions);
const full = image("full", 24 * MiB, R);
// Like full, plus a region that only a site unknown to the destination holds.
const orphan = image("orphan", 28 * MiB, [...R, { at: 24 * MiB, size: 2 * MiB, seed: "region-7" }]);

let fresh = 0;
/** A destination repository (site d, knowing a, b, c and the matrix) that holds nothing yet. */
function newDest(): string {
  const dir = join(t.dir, `dest-${++fresh}`);
  cpSync(template, dir, { recursive: true });
  return dir;
}

const pullArgs = (dest: string, name: string, out: string) => [
  "--repo",
  dest,
  "--json",
  "pull",
  name,
  "-o",
  out,
  "--ssh-config",
  sshConfig,
];

beforeAll(async () => {
  const [a, b, c] = await Promise.all([startSshd(), startSshd(), startSshd()]);
  sshds = { a: a!, b: b!, c: c! };
  sshConfig = combinedSshConfig([a!, b!, c!], join(t.dir, "ssh_config"));
  const init = (dir: string, site: string) => cli.okAsync(["--repo", dir, "init", "--site", site]);
  await Promise.all([
    init(origin, "origin"),
    init(template, "d"),
    ...["a", "b", "c", "e"].map((s) => init(repo(s), s)),
  ]);
  const sites = [
    { name: "a", url: sshUrl("a") },
    { name: "b", url: sshUrl("b") },
    { name: "c", url: sshUrl("c") },
  ];

  // The origin pushes a related image to each site, then full and orphan to a local site e:
  // their recipes (only) are announced to a, b and c.
  const seed = async () => {
    addSites(cli, origin, [...sites, { name: "e", url: repo("e") }]);
    const push = (file: string, to: string, ...extra: string[]) =>
      cli.okAsync(["--repo", origin, "push", file, "--to", to, "--ssh-config", sshConfig, ...extra]);
    await push(image("part-a", 24 * MiB, pick(1, 2, 3, 4)), "a", "--no-announce");
    await push(image("part-b", 24 * MiB, pick(3, 4, 5, 6)), "b", "--no-announce");
    await push(image("part-c", 24 * MiB, pick(5, 6, 1, 2)), "c", "--no-announce");
    await push(full, "e");
    await push(orphan, "e");
  };
  // The destination: equal links from a, b and c.
  const dest = async () => {
    addSites(cli, template, sites);
    for (const s of ["a", "b", "c"])
      await cli.okAsync([
        "--repo",
        template,
        "matrix",
        "set",
        s,
        "d",
        "--bandwidth",
        "100Mbit",
        "--rtt",
        "1ms",
      ]);
  };
  await Promise.all([seed(), dest()]);
}, SETUP_TIMEOUT);

afterAll(async () => {
  await Promise.all(Object.values(sshds ?? {}).map((s) => s.destroy()));
  t.cleanup();
});

describe("probe and plan over ssh", () => {
  it("nitro probe measures each site and fills the matrix", async () => {
    const dest = newDest();
    const probed = cli.json<ProbeJson[]>([
      "--repo",
      dest,
      "probe",
      "--bytes",
      "4M",
      "--ssh-config",
      sshConfig,
    ]);
    expect(probed.map((p) => p.site).sort()).toEqual(["a", "b", "c"]);
    for (const p of probed) {
      expect(p.to).toBe("d");
      expect(p.bandwidth).toBeGreaterThan(0);
      expect(p.rtt).toBeGreaterThan(0);
      expect(p.rtt).toBeLessThan(1);
    }
    const links = cli.json<Array<{ from: string; to: string; bandwidth: number; origin: string }>>([
      "--repo",
      dest,
      "matrix",
    ]);
    for (const p of probed)
      expect(links.find((l) => l.from === p.site && l.to === "d")).toMatchObject({
        bandwidth: p.bandwidth,
        origin: "probe",
      });
  });

  it("nitro plan --json over ssh spreads the missing chunks over the three sites", async () => {
    const ids = await imageChunks(origin, "full");
    const p = cli.json<PlanJson>(["--repo", template, "plan", "full", "--ssh-config", sshConfig]);
    expect(p).toMatchObject({ chunks: ids.size, missing: ids.size, unassigned: 0 });
    expect(p.sites.map((s) => s.site).sort()).toEqual(["a", "b", "c"]);
    for (const s of p.sites) expect(s.chunks).toBeGreaterThan(0);
    expect(p.sites.reduce((n, s) => n + s.chunks, 0)).toBe(ids.size);
    expect(p.ratio).toBeGreaterThanOrEqual(1);
  });
});

describe("nitro pull over ssh", () => {
  it("rebuilds a byte-identical image from three sites, using each", async () => {
    const dest = newDest();
    const out = join(t.dir, "pulled-full.raw");
    const r = parseJson<PullReport & { output: string }>(cli.run(pullArgs(dest, "full", out)), ["pull"]);
    const ids = await imageChunks(origin, "full");
    expect(sha256File(out)).toBe(sha256File(full));
    expect(statSync(out).blocks * 512).toBeLessThan(statSync(out).size); // sparse
    expect(r).toMatchObject({ chunks: ids.size, present: 0, fetchedChunks: ids.size, output: out });
    expect(r.sources.map((s) => s.site).sort()).toEqual(["a", "b", "c"]);
    for (const s of r.sources) {
      expect(s.failed).toBeUndefined();
      expect(s.chunks).toBeGreaterThan(0);
    }
    expect(r.sources.reduce((n, s) => n + s.chunks, 0)).toBe(ids.size);
    // The destination keeps what it fetched: it is a source now.
    expect(await holdings(dest, ids)).toMatchObject({ held: ids.size, images: ["full"] });
  });

  it("finishes from the others when a source's sshd is killed mid-pull", async () => {
    const dest = newDest();
    // a's link is emulated at 2 MB/s: its sshd dies once a first frame (about 2 MiB) is through
    // and the rest of its share is still on the way.
    const slow = throttledNitro(t.dir, "a-slow", 2e6);
    addSites(cli, dest, [{ name: "a", url: sshUrl("a"), remoteCommand: slow.command }], true);
    const out = join(t.dir, "pulled-kill.raw");
    try {
      // Without hedging the pull still waits on a's requests when its sshd dies (with it, the
      // others may fetch them first and the pull end before a has sent 3 MiB).
      const pull = cli.runAsync([...pullArgs(dest, "full", out), "--no-hedge"]);
      await waitFor("a to send 3 MiB (its share should be about 4 MiB)", () => slow.bytes() > 3 * MiB);
      await sshds.a.stop();
      const r = parseJson<PullReport>(await pull, ["pull with a killed"]);
      expect(sha256File(out)).toBe(sha256File(full));
      const a = r.sources.find((s) => s.site === "a")!;
      expect(a.failed).toMatch(/connection|closed|lost/);
      const ids = await imageChunks(origin, "full");
      expect(r.sources.reduce((n, s) => n + s.chunks, 0)).toBe(ids.size);
      expect(a.chunks).toBeGreaterThan(0);
      expect(a.chunks).toBeLessThan(a.plannedChunks);
    } finally {
      await sshds.a.restart();
    }
  });

  it("gets an identical image when one site holds corrupt chunks", async () => {
    const bad = repo("a-corrupt");
    cpSync(repo("a"), bad, { recursive: true });
    expect(corruptPacks(bad)).toBeGreaterThan(0);
    const dest = newDest();
    addSites(cli, dest, [{ name: "a", url: sshUrl("a", bad) }], true);
    const out = join(t.dir, "pulled-corrupt.raw");
    const r = parseJson<PullReport>(cli.run(pullArgs(dest, "full", out)), ["pull with a corrupt"]);
    expect(sha256File(out)).toBe(sha256File(full));
    expect(r.sources.find((s) => s.site === "a")!.failed).toBeTruthy();
    // Nothing corrupt was kept at the destination.
    expect((await withRepo(dest, (s) => s.check(true))).errors).toEqual([]);
  });

  it("fails with exit 10 and writes no file when some chunks have no holder", async () => {
    const inFull = await imageChunks(origin, "full");
    const onlyAtE = [...(await imageChunks(origin, "orphan"))].filter((id) => !inFull.has(id)).length;
    expect(onlyAtE).toBeGreaterThan(0);
    const dest = newDest();
    const plan = cli.json<PlanJson>(["--repo", dest, "plan", "orphan", "--ssh-config", sshConfig]);
    expect(plan.unassigned).toBe(onlyAtE);

    const outDir = join(t.dir, "out-orphan");
    mkdirSync(outDir);
    const r = cli.run(pullArgs(dest, "orphan", join(outDir, "orphan.raw")));
    expect(r.code).toBe(Exit.INCOMPLETE);
    expect(r.stderr).toMatch(
      new RegExp(`^nitro: ${onlyAtE} chunks of 'orphan' .* held by no reachable site`, "m"),
    );
    expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: Exit.INCOMPLETE });
    expect(readdirSync(outDir)).toEqual([]);
    expect((await holdings(dest)).images).toEqual([]);
  });
});
