import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReplicateEvent } from "../../src/transfer/replicate.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import {
  Cli,
  MiB,
  SETUP_TIMEOUT,
  addSites,
  combinedSshConfig,
  holdings,
  requireBuild,
  sha256File,
  writeImage,
} from "../helpers/e2e.js";
import { NITRO_BIN, REMOTE_NITRO, startSshd, type SshdInstance } from "../helpers/sshd.js";

requireBuild();
const t = tempDir("nitro-e2e-replicate-");
// One HOME for this node and, through each site's remote command, for the nitro run at each
// site: its ~/.ssh/config reaches every sshd, as each site's own keys would.
const home = join(t.dir, "home");
const cli = new Cli(home);
const origin = join(t.dir, "origin");
const TARGETS = ["a", "b", "c"] as const;
type Target = (typeof TARGETS)[number];
const repo = (s: Target) => join(t.dir, `site-${s}`);
let sshds: Record<Target, SshdInstance>;

const files: Record<string, string> = {};
const image = (name: string, seeds: string[], size = 24 * MiB) =>
  (files[name] = writeImage(
    join(t.dir, `${name}.raw`),
    size,
    seeds.map((seed, k) => ({ at: k * 4 * MiB, size: 3 * MiB, seed, text: k === 1 })),
  ));

const replicateArgs = (...args: string[]) => [
  "--repo",
  origin,
  "--json",
  "--lock-wait",
  "60",
  "replicate",
  ...args,
];
const events = (stdout: string) =>
  stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ReplicateEvent);

/** Exports the image at a site and compares it with the file it came from. */
function identical(site: Target, name: string): boolean {
  const out = join(t.dir, `check-${site}-${name}-${Math.random().toString(36).slice(2)}.raw`);
  cli.ok(["--repo", repo(site), "export", name, "-o", out]);
  return sha256File(out) === sha256File(files[name]!);
}

beforeAll(async () => {
  const started = await Promise.all(TARGETS.map(() => startSshd()));
  sshds = { a: started[0]!, b: started[1]!, c: started[2]! };
  mkdirSync(join(home, ".ssh"), { recursive: true });
  combinedSshConfig(started, join(home, ".ssh", "config"));
  await Promise.all([
    cli.okAsync(["--repo", origin, "init", "--site", "origin"]),
    ...TARGETS.map((s) => cli.okAsync(["--repo", repo(s), "init", "--site", s])),
  ]);
  const remoteCommand = `env HOME=${home} ${REMOTE_NITRO}`;
  addSites(cli, origin, [
    { name: "origin", url: origin },
    ...TARGETS.map((s) => ({ name: s, url: `ssh://${sshds[s].alias}${repo(s)}`, remoteCommand })),
  ]);
  // The origin's uplink is the thin one: the targets should rather fetch from each other.
  for (const s of TARGETS) {
    cli.ok(["--repo", origin, "matrix", "set", "origin", s, "--bandwidth", "100Mbit"]);
    for (const u of TARGETS)
      if (u !== s) cli.ok(["--repo", origin, "matrix", "set", u, s, "--bandwidth", "1Gbit"]);
  }
  cli.ok(["--repo", origin, "add", image("one", ["1a", "1b", "1c", "1d"]), image("two", ["1a", "2b", "2c"])]);
  const sync = cli.run(["--repo", origin, "--json", "site", "sync"]);
  expect(sync.code, sync.stderr).toBe(0);
}, SETUP_TIMEOUT);

afterAll(async () => {
  await Promise.all(Object.values(sshds ?? {}).map((s) => s.destroy()));
  t.cleanup();
});

describe("nitro replicate over SSH", () => {
  it("site sync gave every site the others, the origin and the matrix", () => {
    const sites = cli.json<Array<{ name: string; identity?: string }>>(["--repo", repo("b"), "site", "ls"]);
    expect(sites.map((s) => s.name).sort()).toEqual(["a", "b", "c", "origin"]);
    const links = cli.json<Array<{ from: string; to: string }>>(["--repo", repo("b"), "matrix"]);
    expect(links.length).toBe(9);
  });

  it("pull --site X runs the pull at X and reports X's result", () => {
    const r = cli.json<{ site: string; image: string; fetchedChunks: number }>([
      "--repo",
      origin,
      "pull",
      "two",
      "--site",
      "a",
    ]);
    expect(r).toMatchObject({ site: "a", image: "two" });
    expect(r.fetchedChunks).toBeGreaterThan(0);
    expect(identical("a", "two")).toBe(true);
    // X's own failure comes back with its exit code.
    const missing = cli.run(["--repo", origin, "pull", "nosuch", "--site", "a"]);
    expect(missing.code).toBe(Exit.NOT_FOUND);
    expect(missing.stderr).toMatch(/a: .*nosuch/);
  });

  it("replicates two images to three sites; a second run moves nothing", async () => {
    const r = await cli.runAsync(replicateArgs("one", "two", "--to", "a,b,c"));
    expect(r.code, r.stderr).toBe(0);
    const done = events(r.stdout).filter((e) => e.event === "done");
    // a already had two (the pull above): it is not touched for it.
    expect(done.map((e) => `${e.image}@${e.site}`).sort()).toEqual([
      "one@a",
      "one@b",
      "one@c",
      "two@b",
      "two@c",
    ]);
    for (const s of TARGETS) for (const name of ["one", "two"]) expect(identical(s, name)).toBe(true);
    // The relays: of image one's bytes, the origin sent each about once (its scatter parts, and
    // the small share the targets' plans gave it), the targets the rest to each other.
    const oneEvents = events(r.stdout).filter((e) => e.image === "one");
    const scattered = oneEvents.flatMap((e) =>
      e.event === "progress" && e.phase === "scatter" ? [e.fetchedBytes] : [],
    );
    const gathered = oneEvents.flatMap((e) => (e.event === "done" ? [e] : []));
    const image =
      (scattered.reduce((a, b) => a + b, 0) + gathered.reduce((a, e) => a + e.fetchedBytes, 0)) / 3;
    const fromOrigin =
      scattered.reduce((a, b) => a + b, 0) + gathered.reduce((a, e) => a + (e.sources.origin ?? 0), 0);
    expect(scattered).toHaveLength(3);
    expect(fromOrigin).toBeLessThan(1.5 * image);

    const before = await Promise.all(TARGETS.map((s) => holdings(repo(s))));
    const again = await cli.runAsync(replicateArgs("one", "two", "--to", "a,b,c"));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe("");
    expect(await Promise.all(TARGETS.map((s) => holdings(repo(s))))).toEqual(before);
    // Without --json, a run with nothing to do prints nothing at all.
    const quiet = await cli.runAsync(["--repo", origin, "replicate", "one", "--to", "a,b,c"]);
    expect(quiet).toMatchObject({ code: 0, stdout: "", stderr: "" });
  }, 120_000);

  it("a target that is down: the others complete, exit 11; a re-run once it is back completes it", async () => {
    cli.ok(["--repo", origin, "add", image("three", ["3a", "3b", "1a"])]);
    await sshds.c.stop();
    const r = await cli.runAsync(["--repo", origin, "replicate", "three", "--to", "a,b,c"]);
    expect(r.code, r.stderr).toBe(Exit.PARTIAL);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/replicate three to c failed/);
    expect(identical("a", "three") && identical("b", "three")).toBe(true);

    await sshds.c.restart();
    const again = await cli.runAsync(replicateArgs("three", "--to", "a,b,c"));
    expect(again.code, again.stderr).toBe(0);
    expect(
      events(again.stdout)
        .filter((e) => e.event === "done")
        .map((e) => e.site),
    ).toEqual(["c"]);
    expect(identical("c", "three")).toBe(true);
  }, 120_000);

  it("kill -9 mid-way: a re-run completes, identical everywhere", async () => {
    cli.ok(["--repo", origin, "add", image("four", ["4a", "4b", "4c", "4d", "4e"], 40 * MiB)]);
    cli.ok(["--repo", origin, "add", image("five", ["5a", "5b", "4a"], 40 * MiB)]);
    const child = spawn(process.execPath, [NITRO_BIN, ...replicateArgs("four", "five", "--to", "a,b,c")], {
      env: { ...process.env, ...cli.env },
    });
    const exited = new Promise<number | null>((res) => child.once("close", (code) => res(code)));
    let out = "";
    await new Promise<void>((res) => {
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        // The scatter is done and the gather pulls are running at the sites.
        if (/"phase":"gather"/.test(out)) res();
      });
      void exited.then(() => res());
    });
    child.kill("SIGKILL");
    expect(await exited).toBeNull();

    const again = await cli.runAsync(replicateArgs("four", "five", "--to", "a,b,c"));
    expect(again.code, again.stderr).toBe(0);
    for (const s of TARGETS)
      for (const name of ["one", "two", "three", "four", "five"]) expect(identical(s, name)).toBe(true);
  }, 180_000);

  it("a second run waits for the first, or exits 6 with --lock-wait 0", async () => {
    cli.ok(["--repo", origin, "add", image("six", ["6a", "6b"], 16 * MiB)]);
    const first = cli.runAsync(replicateArgs("six", "--to", "a,b,c"));
    await new Promise((r) => setTimeout(r, 400));
    const busy = cli.run(["--repo", origin, "--lock-wait", "0", "replicate", "six", "--to", "a,b,c"]);
    const firstRun = await first;
    expect(firstRun.code, firstRun.stderr).toBe(0);
    expect(busy.code).toBe(Exit.LOCKED);
  }, 120_000);
});
