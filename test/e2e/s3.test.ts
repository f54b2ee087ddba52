import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PullReport } from "../../src/transfer/pull.js";
import { Exit } from "../../src/util/errors.js";
import { NITRO_BIN } from "../helpers/cli.js";
import { tempDir } from "../helpers/data.js";
import {
  Cli,
  MiB,
  SETUP_TIMEOUT,
  addSites,
  imageChunks,
  parseJson,
  requireBuild,
  sha256File,
  waitFor,
  writeImage,
  type Region,
} from "../helpers/e2e.js";
import { startSwift, type SwiftInstance } from "../helpers/swift.js";

requireBuild();
const t = tempDir("nitro-e2e-s3-");
const cli = new Cli(join(t.dir, "home"));
const repo = (name: string) => join(t.dir, name);
let swift: SwiftInstance;
let bucket: string;

// Six regions of 2 MiB (one compressible) 4 MiB apart: the s3 site gets 1-4, the local one 3-6.
const R = [1, 2, 3, 4, 5, 6].map((k): Region => ({
  at: (k - 1) * 4 * MiB,
  size: 2 * MiB,
  seed: `s3-region-${k}`,
  text: k === 4,
}));
const pick = (...ks: number[]) => ks.map((k) => R[k - 1]!);
const image = (name: string, regions: Region[]) => writeImage(join(t.dir, `${name}.raw`), 24 * MiB, regions);
const full = image("full", R);

const s3Site = (name: string, prefix: string) => [
  "site",
  "add",
  name,
  `s3://${bucket}/${prefix}`,
  "--endpoint",
  swift.endpoint,
  "--path-style",
  "--init", // idempotent for an s3 site: writes the format object unless it is there
];

let dests = 0;
function newDest(sites: Array<"vault" | "lab">): string {
  const dir = repo(`dest-${++dests}`);
  cli.ok(["--repo", dir, "init", "--site", "d"]);
  if (sites.includes("vault")) cli.ok(["--repo", dir, ...s3Site("vault", "sites/vault")]);
  if (sites.includes("lab")) addSites(cli, dir, [{ name: "lab", url: repo("lab") }]);
  return dir;
}

beforeAll(async () => {
  swift = await startSwift();
  bucket = await swift.newBucket("e2e");
  // Credentials the standard way (never in sites.json); the index cache in the test's dir.
  Object.assign(cli.env, swift.env(), { NITRO_CACHE_DIR: join(t.dir, "cache") });
  for (const r of ["origin", "lab", "relay"]) cli.ok(["--repo", repo(r), "init", "--site", r]);
  cli.ok(["--repo", repo("origin"), ...s3Site("vault", "sites/vault")]);
  addSites(cli, repo("origin"), [
    { name: "lab", url: repo("lab") },
    { name: "relay", url: repo("relay") },
  ]);
  const push = (file: string, to: string, ...extra: string[]) =>
    cli.okAsync(["--repo", repo("origin"), "push", file, "--to", to, ...extra]);
  await push(image("part-s3", pick(1, 2, 3, 4)), "vault", "--no-announce");
  await push(image("part-lab", pick(3, 4, 5, 6)), "lab", "--no-announce");
  // full's recipe (only) is announced to vault and lab.
  await push(full, "relay");
}, SETUP_TIMEOUT);

afterAll(async () => {
  await swift?.stop();
  t.cleanup();
});

describe("s3:// sites end to end (Swift's s3api)", () => {
  it("site add keeps only the URL and S3 options, and refuses bad ones", () => {
    const sites = cli.json<Array<Record<string, unknown>>>(["--repo", repo("origin"), "site", "ls"]);
    expect(sites.find((s) => s.name === "vault")).toEqual({
      name: "vault",
      url: `s3://${bucket}/sites/vault`,
      endpoint: swift.endpoint,
      pathStyle: true,
    });
    const text = cli.ok(["--repo", repo("origin"), "site", "ls"]).stdout;
    expect(text).toMatch(new RegExp(`^vault +s3://${bucket}/sites/vault  endpoint ${swift.endpoint}$`, "m"));
    const add = (...args: string[]) => cli.run(["--repo", repo("origin"), "site", "add", "x", ...args]);
    expect(add("s3://Bad_Bucket").code).toBe(Exit.USAGE);
    expect(add("s3://good-bucket", "--endpoint", "ftp://x").code).toBe(Exit.USAGE);
    expect(add("s3://good-bucket", "--simulate-rate", "10Mbit").code).toBe(Exit.USAGE);
    expect(add("/srv/local", "--path-style").code).toBe(Exit.USAGE);
  });

  it("probe measures the s3 site like any other", () => {
    const dest = newDest(["vault"]);
    const probed = cli.json<Array<{ site: string; bandwidth: number; rtt: number }>>([
      "--repo",
      dest,
      "probe",
      "--bytes",
      "4M",
    ]);
    expect(probed.map((p) => p.site)).toEqual(["vault"]);
    expect(probed[0]!.bandwidth).toBeGreaterThan(0);
    expect(probed[0]!.rtt).toBeGreaterThan(0);
  });

  it("pulls a byte-identical image from an s3 site and a local site together, using both", async () => {
    const dest = newDest(["vault", "lab"]);
    for (const s of ["vault", "lab"])
      cli.ok(["--repo", dest, "matrix", "set", s, "d", "--bandwidth", "100Mbit", "--rtt", "1ms"]);
    const out = join(t.dir, "pulled-full.raw");
    const r = parseJson<PullReport>(cli.run(["--repo", dest, "--json", "pull", "full", "-o", out]), ["pull"]);
    expect(sha256File(out)).toBe(sha256File(full));
    const ids = await imageChunks(repo("origin"), "full");
    expect(r).toMatchObject({ chunks: ids.size, fetchedChunks: ids.size });
    expect(r.sources.map((s) => s.site).sort()).toEqual(["lab", "vault"]);
    for (const s of r.sources) {
      expect(s.failed).toBeUndefined();
      expect(s.chunks).toBeGreaterThan(0);
    }
  });

  it("two pushes to the same s3 site at once both land, and each image pulls back identical", async () => {
    const one = image("one", [...pick(1, 5), { at: 12 * MiB, size: 3 * MiB, seed: "only-one" }]);
    const two = image("two", [...pick(1, 6), { at: 12 * MiB, size: 3 * MiB, seed: "only-two" }]);
    for (const r of ["writer-1", "writer-2"]) {
      cli.ok(["--repo", repo(r), "init", "--site", r]);
      cli.ok(["--repo", repo(r), ...s3Site("vault", "sites/shared")]);
    }
    await Promise.all([
      cli.okAsync(["--repo", repo("writer-1"), "push", one, "--to", "vault"]),
      cli.okAsync(["--repo", repo("writer-2"), "push", two, "--to", "vault"]),
    ]);
    const dest = repo("shared-dest");
    cli.ok(["--repo", dest, "init", "--site", "d"]);
    cli.ok(["--repo", dest, ...s3Site("vault", "sites/shared")]);
    for (const [name, file] of [
      ["one", one],
      ["two", two],
    ] as const) {
      const out = join(t.dir, `pulled-${name}.raw`);
      cli.ok(["--repo", dest, "pull", name, "-o", out]);
      expect(sha256File(out)).toBe(sha256File(file));
    }
  });

  it("a push killed (-9) after a pack landed is finished by a re-run, which sends only the rest", async () => {
    // 200 MiB of random data: four packs' worth, so the kill comes after the first and before the last.
    const big = writeImage(
      join(t.dir, "big.raw"),
      200 * MiB,
      Array.from({ length: 25 }, (_, k) => ({ at: k * 8 * MiB, size: 8 * MiB, seed: `big-${k}` })),
    );
    const writer = repo("writer-kill");
    cli.ok(["--repo", writer, "init", "--site", "writer-kill"]);
    cli.ok(["--repo", writer, "add", big]);
    cli.ok(["--repo", writer, ...s3Site("vault", "sites/killed")]);
    const push = spawn(process.execPath, [NITRO_BIN, "--repo", writer, "push", "big", "--to", "vault"], {
      env: { ...process.env, ...cli.env },
      stdio: "ignore",
    });
    const exited = new Promise<NodeJS.Signals | number | null>((r) =>
      push.on("exit", (code, sig) => r(sig ?? code)),
    );
    const client = swift.client();
    const indexes = async () =>
      (await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "sites/killed/index/" })))
        .KeyCount ?? 0;
    let seen = 0;
    await waitFor("a first pack and its index at the site", async () => (seen = await indexes()) > 0, 60_000);
    push.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    client.destroy();

    const again = cli.json<{ results: Array<{ present: number; sentChunks: number; chunks: number }> }>([
      "--repo",
      writer,
      "push",
      "big",
      "--to",
      "vault",
    ]);
    const r = again.results[0]!;
    expect(seen).toBeGreaterThan(0);
    expect(r.present).toBeGreaterThan(0);
    expect(r.present + r.sentChunks).toBe(r.chunks);

    const dest = repo("killed-dest");
    cli.ok(["--repo", dest, "init", "--site", "d"]);
    cli.ok(["--repo", dest, ...s3Site("vault", "sites/killed")]);
    const out = join(t.dir, "pulled-big.raw");
    cli.ok(["--repo", dest, "pull", "big", "-o", out]);
    expect(sha256File(out)).toBe(sha256File(big));

    // The killed push's lock object names a dead pid of this host: gc does not wait for it.
    const gc = cli.json<{ packsBefore: number; chunksDeleted: number }>([
      "--repo",
      writer,
      "--lock-wait",
      "0",
      "gc",
      "--site",
      "vault",
    ]);
    expect(gc.packsBefore).toBeGreaterThan(0);
    expect(gc.chunksDeleted).toBe(0);
  });
});
