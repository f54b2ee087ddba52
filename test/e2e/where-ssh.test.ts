import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Holding, WhereTable } from "../../src/site/where.js";
import type { GcReport } from "../../src/store/gc.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { Cli, MiB, SETUP_TIMEOUT, holdings, requireBuild, writeImage } from "../helpers/e2e.js";
import { REMOTE_NITRO, startSshd, type SshdInstance } from "../helpers/sshd.js";

requireBuild();
const t = tempDir("nitro-e2e-where-");
const cli = new Cli(join(t.dir, "home"));
const here = join(t.dir, "here");
const repo = (name: string) => join(t.dir, `site-${name}`);
let sshd: SshdInstance;
let kh: string[];

// lamp is base plus one more region: a site holding base's chunks holds 5 of lamp's 7 MiB of data.
const base = writeImage(join(t.dir, "base.raw"), 16 * MiB, [
  { at: 0, size: 3 * MiB, seed: "base-a" },
  { at: 6 * MiB, size: 2 * MiB, seed: "base-b", text: true },
]);
const lamp = writeImage(join(t.dir, "lamp.raw"), 16 * MiB, [
  { at: 0, size: 3 * MiB, seed: "base-a" },
  { at: 6 * MiB, size: 2 * MiB, seed: "base-b", text: true },
  { at: 11 * MiB, size: 2 * MiB, seed: "lamp-x" },
]);
const solo = writeImage(join(t.dir, "solo.raw"), 4 * MiB, [{ at: 0, size: 1 * MiB, seed: "solo" }]);

/** `nitro site add` of an SSH site on the test sshd, with its key and known host. */
const sshSiteAdd = (name: string, path: string, ...more: string[]) =>
  cli.run([
    "--repo",
    here,
    "site",
    "add",
    name,
    sshd.url(path),
    "--remote-command",
    REMOTE_NITRO,
    "--identity",
    sshd.clientKeyPath,
    ...kh,
    ...more,
  ]);

const where = (...args: string[]) => cli.json<WhereTable>(["--repo", here, "where", ...args, ...kh]);
const cell = (table: WhereTable, image: string, site: string): Holding | undefined =>
  table.images.find((r) => r.image === image)?.at[site];

beforeAll(async () => {
  sshd = await startSshd();
  kh = ["--known-hosts", sshd.knownHostsPath];
  await Promise.all([
    cli.okAsync(["--repo", here, "init", "--site", "here"]),
    cli.okAsync(["--repo", repo("b"), "init", "--site", "b"]),
  ]);
  cli.ok(["--repo", here, "add", base, lamp, solo]);
}, SETUP_TIMEOUT);

afterAll(async () => {
  await sshd?.destroy();
  t.cleanup();
});

describe("site add checks for a repository, and --init creates one over SSH", () => {
  it("refuses a local directory or an SSH path with no repository (exit 3), creates them with --init", async () => {
    const local = cli.run(["--repo", here, "site", "add", "loc", repo("loc")]);
    expect(local.code).toBe(Exit.NOT_FOUND);
    expect(local.stderr).toMatch(
      /^nitro: site loc: no nitro repository at .*site-loc; .* --init' creates it$/m,
    );
    const far = sshSiteAdd("a", repo("a"));
    expect(far.code).toBe(Exit.NOT_FOUND);
    expect(far.stderr).toMatch(/site a: .*no nitro repository at .*site-a/);
    expect(cli.json<unknown[]>(["--repo", here, "site", "ls"])).toEqual([]);

    cli.ok(["--repo", here, "site", "add", "loc", repo("loc"), "--init"]);
    const init = sshSiteAdd("a", repo("a"), "--init");
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(repo("a"), "nitro.json"), "utf8"))).toMatchObject({ site: "a" });
    // A second --init finds the repository there and says so.
    const again = sshSiteAdd("a2", repo("a"), "--init");
    expect(again.code).toBe(Exit.EXISTS);
    expect(again.stderr).toMatch(/a nitro repository already exists/);
    expect(sshSiteAdd("b", repo("b")).code).toBe(0);

    // The new site takes a push.
    cli.ok(["--repo", here, "push", "base", "--to", "a", "--no-announce", ...kh]);
    expect((await holdings(repo("a"))).images).toEqual(["base"]);
  });
});

describe("where, stats, site ls --status, rm and gc at sites", () => {
  it("where: complete, recipe only, partial with its percentage, absent, unreachable", () => {
    // lamp goes to loc; the push announces its recipe to a (which holds base's chunks) and b.
    cli.ok(["--repo", here, "push", "lamp", "--to", "loc", ...kh]);
    const gone = cli.run([
      "--repo",
      here,
      "site",
      "add",
      "gone",
      sshd.url(repo("b")),
      "--remote-command",
      "/bin/false",
      "--identity",
      sshd.clientKeyPath,
      ...kh,
    ]);
    expect(gone.code).toBe(0);
    expect(gone.stderr).toMatch(/warning: could not check .*added anyway/);

    const table = where();
    expect(table.sites.map((s) => s.name)).toEqual(["here", "a", "b", "gone", "loc"]);
    expect(table.sites.find((s) => s.name === "gone")?.error).toMatch(/gone/);
    expect(table.images.map((r) => [r.image, r.size])).toEqual([
      ["base", 16 * MiB],
      ["lamp", 16 * MiB],
      ["solo", 4 * MiB],
    ]);
    const states = (image: string) =>
      Object.fromEntries(table.sites.map((s) => [s.name, cell(table, image, s.name)?.state]));
    expect(states("base")).toEqual({
      here: "complete",
      a: "complete",
      b: "absent",
      gone: "unreachable",
      loc: "absent",
    });
    expect(states("lamp")).toEqual({
      here: "complete",
      a: "partial",
      b: "recipe-only",
      gone: "unreachable",
      loc: "complete",
    });
    expect(cell(table, "lamp", "a")).toEqual({
      state: "partial",
      percent: 71.4,
      presentBytes: 5 * MiB,
      dataBytes: 7 * MiB,
    });
    expect(states("solo")).toEqual({
      here: "complete",
      a: "absent",
      b: "absent",
      gone: "unreachable",
      loc: "absent",
    });

    const text = cli.run(["--repo", here, "where", "lamp", ...kh]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^lamp\s+16\.0 MiB\s+complete\s+partial 71\.4%\s+recipe only\s+unreachable\s+complete$/m,
    );
    const unknown = cli.run(["--repo", here, "where", "nothing", ...kh]);
    expect(unknown.code).toBe(Exit.NOT_FOUND);
    cli.ok(["--repo", here, "site", "rm", "gone"]);
  });

  it("stats counts complete images only; a recipe-only site stores no logical bytes", () => {
    interface Stats {
      images: number;
      logicalBytes: number;
      incompleteImages: Array<{ name: string; presentBytes: number; dataBytes: number }>;
    }
    const b = cli.json<Stats>(["--repo", repo("b"), "stats"]);
    expect(b).toMatchObject({ images: 0, logicalBytes: 0 });
    expect(b.incompleteImages).toEqual([
      { name: "lamp", size: 16 * MiB, presentBytes: 0, dataBytes: 7 * MiB },
    ]);
    const a = cli.json<Stats>(["--repo", repo("a"), "stats"]);
    expect(a).toMatchObject({ images: 1, logicalBytes: 16 * MiB });
    expect(a.incompleteImages.map((i) => [i.name, i.presentBytes])).toEqual([["lamp", 5 * MiB]]);
    expect(cli.run(["--repo", repo("b"), "stats"]).stdout).toMatch(/^logical\s+0 B$/m);
  });

  it("site ls --status: each site's images count and free space", () => {
    const rows = cli.json<Array<{ name: string; status: { images?: number; freeBytes?: number } }>>([
      "--repo",
      here,
      "site",
      "ls",
      "--status",
      ...kh,
    ]);
    expect(rows.map((r) => [r.name, r.status.images])).toEqual([
      ["a", 2],
      ["b", 1],
      ["loc", 1],
    ]);
    for (const r of rows) expect(r.status.freeBytes).toBeGreaterThan(0);
    expect(cli.run(["--repo", here, "site", "ls", "--status", ...kh]).stdout).toMatch(
      /^a\s+ssh:.* 2 images, .* free$/m,
    );
  });

  it("rm --site removes at several sites at once, and gc --site reclaims what only the removed used", async () => {
    const rm = cli.json<{ sites: Array<{ site: string; ok: boolean; value: string[] }> }>([
      "--repo",
      here,
      "rm",
      "lamp",
      "--site",
      "a,b",
      ...kh,
    ]);
    expect(rm.sites).toEqual([
      { site: "a", ok: true, value: ["lamp"] },
      { site: "b", ok: true, value: ["lamp"] },
    ]);
    const missing = cli.run(["--repo", here, "rm", "lamp", "--site", "b", ...kh]);
    expect(missing.code).toBe(Exit.NOT_FOUND);
    expect(missing.stderr).toMatch(/^nitro: b: no image 'lamp'/m);

    cli.ok(["--repo", here, "rm", "base", "--site", "a", ...kh]);
    const report = cli.json<GcReport & { site: string }>([
      "--repo",
      here,
      "gc",
      "--site",
      "a",
      "--max-unused",
      "0",
      ...kh,
    ]);
    expect(report).toMatchObject({ site: "a", dryRun: false, liveBytes: 0, packBytesAfter: 0 });
    expect(report.bytesReclaimed).toBeGreaterThan(3 * MiB);
    expect(await holdings(repo("a"))).toEqual({ chunks: 0, held: 0, images: [] });
    const table = where();
    expect(cell(table, "lamp", "a")?.state).toBe("absent");
    expect(cell(table, "lamp", "loc")?.state).toBe("complete");
  });

  it("a site served --read-only refuses rm and gc (exit 1) and still answers where", async () => {
    const key = await sshd.newClientKey("reader");
    await sshd.authorize(
      readFileSync(`${key}.pub`, "utf8"),
      `command="${REMOTE_NITRO} serve --stdio --repo ${repo("loc")} --read-only",restrict`,
    );
    cli.ok([
      "--repo",
      here,
      "site",
      "add",
      "ro",
      sshd.url(repo("loc")),
      "--remote-command",
      REMOTE_NITRO,
      "--identity",
      key,
      ...kh,
    ]);
    for (const args of [
      ["rm", "lamp", "--site", "ro"],
      ["gc", "--site", "ro"],
    ]) {
      const r = cli.run(["--repo", here, ...args, ...kh]);
      expect({ args, code: r.code }).toEqual({ args, code: Exit.FAILURE });
      expect(r.stderr).toMatch(/^nitro: ro: site ro is read-only$/m);
    }
    expect((await holdings(repo("loc"))).images).toEqual(["lamp"]);
    expect(cell(where("lamp"), "lamp", "ro")?.state).toBe("complete");
  });
});
