import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PushResult } from "../../src/transfer/push.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import {
  Cli,
  MiB,
  SETUP_TIMEOUT,
  addSites,
  combinedKnownHosts,
  holdings,
  imageChunks,
  parseJson,
  requireBuild,
  throttledNitro,
  union,
  waitFor,
  withRepo,
  writeImage,
} from "../helpers/e2e.js";
import { REMOTE_NITRO, startSshd, type SshdInstance } from "../helpers/sshd.js";

const run = promisify(execFile);

interface PushJson {
  image: string;
  results: PushResult[];
  failures: Array<{ site: string; error: string }>;
  announced: string[];
}

requireBuild();
const t = tempDir("nitro-e2e-push-");
const cli = new Cli(join(t.dir, "home"));
const here = join(t.dir, "here");
const repo = (name: string) => join(t.dir, `site-${name}`);
let a: SshdInstance;
let b: SshdInstance;
let c: SshdInstance;
let knownHosts: string;

// img1: random, text and a region shared with img2.
const img1 = writeImage(join(t.dir, "img1.raw"), 24 * MiB, [
  { at: 0, size: 3 * MiB, seed: "one-a" },
  { at: 8 * MiB, size: 3 * MiB, seed: "one-b", text: true },
  { at: 16 * MiB, size: 2 * MiB, seed: "shared" },
]);
const img2 = writeImage(join(t.dir, "img2.raw"), 24 * MiB, [
  { at: 0, size: 2 * MiB, seed: "two-a" },
  { at: 16 * MiB, size: 2 * MiB, seed: "shared" },
]);

beforeAll(async () => {
  [a, b, c] = await Promise.all([startSshd(), startSshd(), startSshd()]);
  await Promise.all(
    [
      ["here", here],
      ["a", repo("a")],
      ["b", repo("b")],
      ["c", repo("c")],
    ].map(([site, dir]) => cli.okAsync(["--repo", dir!, "init", "--site", site!])),
  );
  addSites(cli, here, [
    { name: "a", url: a.url(repo("a")), identity: a.clientKeyPath },
    { name: "b", url: b.url(repo("b")), identity: b.clientKeyPath },
    { name: "c", url: c.url(repo("c")), identity: c.clientKeyPath },
  ]);
  knownHosts = combinedKnownHosts([a, b, c], join(t.dir, "known_hosts"));
}, SETUP_TIMEOUT);

afterAll(async () => {
  await Promise.all([a, b, c].map((s) => s?.destroy()));
  t.cleanup();
});

describe("nitro push over real sshd", () => {
  it("pushes to three sites at once, each holds exactly what it was sent, and a second push sends nothing", async () => {
    const first = parseJson<PushJson>(
      cli.run(["--repo", here, "--json", "push", img1, "--to", "a,b,c", "--known-hosts", knownHosts]),
      ["push img1"],
    );
    const ids1 = await imageChunks(here, "img1");
    expect(first.failures).toEqual([]);
    expect(first.results.map((r) => r.site).sort()).toEqual(["a", "b", "c"]);
    for (const r of first.results) {
      expect(r).toMatchObject({ chunks: ids1.size, present: 0, sentChunks: ids1.size });
      // Sent as stored frames: the text region went compressed.
      expect(r.wireBytes).toBeGreaterThan(0);
      expect(r.wireBytes).toBeLessThan(r.sentBytes);
    }

    // A related image to b only: only what b lacks goes.
    const second = parseJson<PushJson>(
      cli.run([
        "--repo",
        here,
        "--json",
        "push",
        img2,
        "--to",
        "b",
        "--no-announce",
        "--known-hosts",
        knownHosts,
      ]),
      ["push img2"],
    );
    const ids2 = await imageChunks(here, "img2");
    const shared = [...ids2].filter((id) => ids1.has(id)).length;
    expect(shared).toBeGreaterThan(0);
    expect(second.results[0]).toMatchObject({ site: "b", present: shared, sentChunks: ids2.size - shared });

    const expected = { a: ids1, b: union(ids1, ids2), c: ids1 };
    for (const [site, ids] of Object.entries(expected)) {
      const h = await holdings(repo(site), ids);
      expect({ site, ...h, images: h.images.sort() }).toEqual({
        site,
        chunks: ids.size,
        held: ids.size,
        images: site === "b" ? ["img1", "img2"] : ["img1"],
      });
      expect(await withRepo(repo(site), (s) => s.check(true))).toMatchObject({
        errors: [],
        chunks: ids.size,
      });
    }

    const again = parseJson<PushJson>(
      cli.run(["--repo", here, "--json", "push", "img1", "--to", "a,b,c", "--known-hosts", knownHosts]),
      ["push img1 again"],
    );
    expect(again.results).toHaveLength(3);
    for (const r of again.results)
      expect(r).toMatchObject({ present: ids1.size, sentChunks: 0, sentBytes: 0, wireBytes: 0 });
  });

  it("finishes a push cut in the middle with a re-run that sends only what is missing", async () => {
    // The far store commits every 64 MiB received, so a cut leaves something durable only after
    // that: 80 MiB of incompressible data over a link emulated at 30 MB/s, which leaves at least
    // 0.5 s between the first commit and the end to cut the connection in.
    const big = writeImage(join(t.dir, "big.raw"), 80 * MiB, [{ at: 0, size: 80 * MiB, seed: "big" }]);
    const slow = throttledNitro(t.dir, "slow", 30e6);
    await cli.okAsync(["--repo", repo("slow"), "init", "--site", "slow"]);
    addSites(cli, here, [
      { name: "slow", url: a.url(repo("slow")), identity: a.clientKeyPath, remoteCommand: slow.command },
    ]);
    const args = [
      "--repo",
      here,
      "--json",
      "push",
      "--to",
      "slow",
      "--no-announce",
      "--known-hosts",
      knownHosts,
    ];
    const cut = cli.runAsync([...args, big]);

    // Wait for the first durable commit at the far end, then cut every live session of that sshd.
    await withRepo(repo("slow"), async (s) => {
      await waitFor("a first commit at the far end", () => s.index.counters().chunks > 0, 60_000);
    });
    await a.killConnections();
    const cutRun = await cut;
    expect(cutRun.code).toBe(Exit.REMOTE);
    // One JSON document, naming the failed site.
    expect(JSON.parse(cutRun.stdout)).toMatchObject({
      results: [],
      failures: [{ site: "slow" }],
      exitCode: Exit.REMOTE,
    });

    const ids = await imageChunks(here, "big");
    const after = await holdings(repo("slow"), ids);
    expect(after.held).toBeGreaterThan(0);
    expect(after.held).toBeLessThan(ids.size);
    expect(after.chunks).toBe(after.held);
    expect(after.images).toEqual([]); // no recipe before all its chunks are there

    const rerun = parseJson<PushJson>(cli.run([...args, "big"]), ["push big (re-run)"]);
    expect(rerun.results[0]).toMatchObject({
      site: "slow",
      chunks: ids.size,
      present: after.held,
      sentChunks: ids.size - after.held,
    });
    expect(await holdings(repo("slow"), ids)).toEqual({ chunks: ids.size, held: ids.size, images: ["big"] });
    expect(cli.json<{ errors: string[] }>(["--repo", repo("slow"), "check", "--read-data"]).errors).toEqual(
      [],
    );
  });

  it("a site served --read-only refuses a push with a clear error and stores nothing", async () => {
    await cli.okAsync(["--repo", repo("ro"), "init", "--site", "ro"]);
    const key = await b.newClientKey("puller");
    await b.authorize(
      readFileSync(`${key}.pub`, "utf8"),
      `command="${REMOTE_NITRO} serve --stdio --repo ${repo("ro")} --read-only",restrict`,
    );
    addSites(cli, here, [{ name: "ro", url: b.url(repo("ro")), identity: key }]);
    const r = cli.run([
      "--repo",
      here,
      "push",
      "img1",
      "--to",
      "ro",
      "--no-announce",
      "--known-hosts",
      knownHosts,
    ]);
    expect(r.code).toBe(Exit.FAILURE);
    // Refused when opened, from the server's HELLO, before any frame is sent.
    expect(r.stderr).toMatch(/^nitro: site ro is read-only$/m);
    expect(await holdings(repo("ro"))).toEqual({ chunks: 0, held: 0, images: [] });
  });

  it("refuses a client key the site does not know (exit 8, permission denied); -i with the right key works", async () => {
    const stranger = await c.newClientKey("stranger");
    addSites(cli, here, [{ name: "c-noid", url: c.url(repo("c")) }]);
    const base = [
      "--repo",
      here,
      "push",
      "img2",
      "--to",
      "c-noid",
      "--no-announce",
      "--known-hosts",
      knownHosts,
    ];
    const denied = cli.run([...base, "-i", stranger]);
    expect(denied.code).toBe(Exit.REMOTE);
    expect(denied.stderr).toMatch(/^nitro: permission denied \(publickey\)/m);
    const ids2 = await imageChunks(here, "img2");
    const before = await holdings(repo("c"), ids2);
    expect(before.images).toEqual(["img1"]);
    expect(before.held).toBeLessThan(ids2.size);

    const allowed = parseJson<PushJson>(cli.run(["--json", ...base, "-i", c.clientKeyPath]), ["push -i"]);
    expect(allowed.results[0]).toMatchObject({
      site: "c-noid",
      present: before.held,
      sentChunks: ids2.size - before.held,
    });
  });
});

describe("host keys", () => {
  it("refuses an unknown host key, accepts it with --accept-new, and refuses a changed one even then", async () => {
    const h = await startSshd();
    try {
      await cli.okAsync(["--repo", repo("h"), "init", "--site", "h"]);
      addSites(cli, here, [{ name: "h", url: h.url(repo("h")), identity: h.clientKeyPath }]);
      const kh = join(t.dir, "known_hosts_h");
      writeFileSync(kh, "");
      const pushTo = (image: string, ...extra: string[]) =>
        cli.run(["--repo", here, "push", image, "--to", "h", "--no-announce", "--known-hosts", kh, ...extra]);

      const unknown = pushTo("img1");
      expect(unknown.code).toBe(Exit.HOST_KEY);
      expect(unknown.stderr).toMatch(/host key of \[127\.0\.0\.1\]:\d+ is unknown .*--accept-new/);
      expect(readFileSync(kh, "utf8")).toBe("");
      expect(await holdings(repo("h"))).toEqual({ chunks: 0, held: 0, images: [] });

      expect(pushTo("img1", "--accept-new").code).toBe(0);
      const hostPub = readFileSync(`${h.hostKeyPath}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
      expect(readFileSync(kh, "utf8")).toBe(`[127.0.0.1]:${h.port} ${hostPub}\n`);
      expect(pushTo("img1").code).toBe(0); // now known
      expect((await holdings(repo("h"))).images).toEqual(["img1"]);

      // The host is "reinstalled": a new host key on the same address.
      rmSync(h.hostKeyPath);
      rmSync(`${h.hostKeyPath}.pub`);
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", h.hostKeyPath]);
      await h.restart();
      for (const extra of [[], ["--accept-new"]]) {
        const changed = pushTo("img2", ...extra);
        expect(changed.code).toBe(Exit.HOST_KEY);
        expect(changed.stderr).toMatch(/HOST KEY OF \[127\.0\.0\.1\]:\d+ HAS CHANGED/);
      }
      expect(readFileSync(kh, "utf8")).toBe(`[127.0.0.1]:${h.port} ${hostPub}\n`);
      expect((await holdings(repo("h"))).images).toEqual(["img1"]);
    } finally {
      await h.destroy();
    }
  });
});
