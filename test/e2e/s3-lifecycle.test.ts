import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WhereTable } from "../../src/site/where.js";
import type { GcReport } from "../../src/store/gc.js";
import type { PullReport } from "../../src/transfer/pull.js";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import {
  Cli,
  MiB,
  SETUP_TIMEOUT,
  parseJson,
  requireBuild,
  sha256File,
  waitFor,
  writeImage,
} from "../helpers/e2e.js";
import { REMOTE_NITRO, startSshd, type SshdInstance } from "../helpers/sshd.js";
import { startSwift, type SwiftInstance } from "../helpers/swift.js";

requireBuild();
const t = tempDir("nitro-e2e-s3-life-");
const cli = new Cli(join(t.dir, "home"));
const repo = (name: string) => join(t.dir, name);
let swift: SwiftInstance;
let sshd: SshdInstance;
let bucket: string;
let ssh: string[];

const alpha = writeImage(join(t.dir, "alpha.raw"), 16 * MiB, [
  { at: 0, size: 3 * MiB, seed: "alpha-a" },
  { at: 8 * MiB, size: 2 * MiB, seed: "alpha-b", text: true },
]);
const beta = writeImage(join(t.dir, "beta.raw"), 16 * MiB, [
  { at: 0, size: 3 * MiB, seed: "beta-a" },
  { at: 8 * MiB, size: 2 * MiB, seed: "alpha-b", text: true },
]);

/** Adds the s3 site `vault` and the SSH site `far` to a repository. */
function addBoth(dir: string): void {
  cli.ok([
    "--repo",
    dir,
    "site",
    "add",
    "vault",
    `s3://${bucket}/vault`,
    "--endpoint",
    swift.endpoint,
    "--path-style",
    "--init",
  ]);
  const far = ["--remote-command", REMOTE_NITRO, "--identity", sshd.clientKeyPath, ...ssh];
  cli.ok(["--repo", dir, "site", "add", "far", sshd.url(repo("far")), ...far]);
}

let dests = 0;
function newDest(): string {
  const dir = repo(`dest-${++dests}`);
  cli.ok(["--repo", dir, "init", "--site", "d"]);
  addBoth(dir);
  return dir;
}

const objects = async (sub: string, site = "vault") => {
  const client = swift.client();
  try {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${site}/${sub}` }));
    return (r.Contents ?? []).map((o) => o.Key!);
  } finally {
    client.destroy();
  }
};

beforeAll(async () => {
  [swift, sshd] = await Promise.all([startSwift(), startSshd()]);
  bucket = await swift.newBucket("life");
  ssh = ["--known-hosts", sshd.knownHostsPath];
  Object.assign(cli.env, swift.env(), { NITRO_CACHE_DIR: join(t.dir, "cache") });
  cli.ok(["--repo", repo("origin"), "init", "--site", "origin"]);
  cli.ok(["--repo", repo("far"), "init", "--site", "far"]);
  addBoth(repo("origin"));
  for (const image of [alpha, beta])
    await cli.okAsync(["--repo", repo("origin"), "push", image, "--to", "vault,far", ...ssh]);
}, SETUP_TIMEOUT);

afterAll(async () => {
  await Promise.all([swift?.stop(), sshd?.destroy()]);
  t.cleanup();
});

describe("s3:// sites beside an SSH site: pull, where, verify --repair, rm and gc", () => {
  it("site add finds no site at an empty prefix (exit 3); --init writes its format object, twice harmlessly", async () => {
    const add = (...more: string[]) =>
      cli.run([
        "--repo",
        repo("origin"),
        "site",
        "add",
        "fresh",
        `s3://${bucket}/fresh`,
        "--endpoint",
        swift.endpoint,
        "--path-style",
        ...more,
      ]);
    const missing = add();
    expect(missing.code).toBe(Exit.NOT_FOUND);
    expect(missing.stderr).toMatch(
      /site fresh: no nitro site format object \(nitro-site.json\) .*--init' creates it/,
    );
    expect(add("--init").code).toBe(0);
    expect(await objects("nitro-site.json", "fresh")).toEqual(["fresh/nitro-site.json"]);
    expect(add("--force").code).toBe(0);
    expect(add("--force", "--init").code).toBe(0);
  });

  it("a third node pulls from the s3 site and the SSH site together, byte-identical", () => {
    const dest = newDest();
    for (const s of ["vault", "far"])
      cli.ok(["--repo", dest, "matrix", "set", s, "d", "--bandwidth", "100Mbit", "--rtt", "1ms"]);
    const out = join(t.dir, "pulled-alpha.raw");
    // --no-hedge: each source then delivers what it was asked (hedging may let one deliver all).
    const args = ["--repo", dest, "--json", "pull", "alpha", "-o", out, "--no-hedge", ...ssh];
    const r = parseJson<PullReport>(cli.run(args), ["pull"]);
    expect(sha256File(out)).toBe(sha256File(alpha));
    expect(r.sources.map((s) => s.site).sort()).toEqual(["far", "vault"]);
    for (const s of r.sources) expect(s.chunks).toBeGreaterThan(0);
  });

  it("where shows both images complete at the s3 site; site ls --status has no free-space figure for it", () => {
    const table = cli.json<WhereTable>(["--repo", repo("origin"), "where", ...ssh]);
    for (const image of ["alpha", "beta"])
      expect(table.images.find((r) => r.image === image)?.at.vault).toEqual({ state: "complete" });
    const rows = cli.json<Array<{ name: string; status: { images: number; freeBytes: number | null } }>>([
      "--repo",
      repo("origin"),
      "site",
      "ls",
      "--status",
      ...ssh,
    ]);
    expect(rows.find((r) => r.name === "vault")?.status).toEqual({
      images: 2,
      freeBytes: null,
      totalBytes: null,
    });
  });

  it("verify --site finds a corrupted pack object; --repair restores it from the SSH site", async () => {
    const client = swift.client();
    const [pack] = (await objects("packs/")).sort();
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: pack! }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    for (let o = 4096; o < bytes.length; o += 64 * 1024) bytes[o] = bytes[o]! ^ 0xff;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: pack!, Body: bytes }));
    client.destroy();

    const found = cli.run([
      "--repo",
      repo("origin"),
      "--json",
      "verify",
      "--site",
      "vault",
      "--read-data",
      ...ssh,
    ]);
    expect(found.code).toBe(Exit.CORRUPT);
    const first = JSON.parse(found.stdout) as { findings: Array<{ kind: string; images: string[] }> };
    expect(first.findings.length).toBeGreaterThan(0);
    expect(
      first.findings.every((f) => f.kind === "bad-hash" || f.kind === "bad-data" || f.kind === "bad-header"),
    ).toBe(true);

    const repaired = cli.run([
      "--repo",
      repo("origin"),
      "--json",
      "verify",
      "--site",
      "vault",
      "--read-data",
      "--repair",
      ...ssh,
    ]);
    expect(repaired.code, repaired.stderr).toBe(0);
    const r = JSON.parse(repaired.stdout) as {
      repair: { dropped: number; restoredChunks: number };
      after: { findings: unknown[] };
    };
    expect(r.repair.dropped).toBeGreaterThan(0);
    expect(r.repair.restoredChunks).toBeGreaterThanOrEqual(r.repair.dropped);
    expect(r.after.findings).toEqual([]);
    expect(await objects("packs/")).not.toContain(pack);
    cli.ok(["--repo", repo("origin"), "verify", "--site", "vault", "--read-data", ...ssh]);
  });

  it("gc beside a pull from the s3 site: gc waits for the reader's lock, the pull finishes identical", async () => {
    cli.ok(["--repo", repo("origin"), "rm", "alpha", "--site", "vault", ...ssh]);
    const dest = repo("gc-reader");
    cli.ok(["--repo", dest, "init", "--site", "d"]);
    cli.ok([
      "--repo",
      dest,
      "site",
      "add",
      "vault",
      `s3://${bucket}/vault`,
      "--endpoint",
      swift.endpoint,
      "--path-style",
    ]);
    const out = join(t.dir, "pulled-beta.raw");
    const pull = cli.runAsync(["--repo", dest, "pull", "beta", "-o", out]);
    await waitFor("the pull's lock object", async () => (await objects("locks/")).length > 0, 60_000);
    const gc = cli.runAsync([
      "--repo",
      repo("origin"),
      "--json",
      "--lock-wait",
      "120",
      "gc",
      "--site",
      "vault",
      "--max-unused",
      "0",
    ]);
    const [p, g] = await Promise.all([pull, gc]);
    expect(p.code, p.stderr).toBe(0);
    expect(sha256File(out)).toBe(sha256File(beta));
    expect(g.code, g.stderr).toBe(0);
    const report = JSON.parse(g.stdout) as GcReport & { site: string };
    expect(report).toMatchObject({ site: "vault", dryRun: false });
    expect(report.chunksDeleted).toBeGreaterThan(0);
    expect(report.bytesReclaimed).toBeGreaterThan(0);
    expect(await objects("locks/")).toEqual([]);
    const again = join(t.dir, "pulled-beta-2.raw");
    cli.ok(["--repo", newDest(), "pull", "beta", "-o", again, ...ssh]);
    expect(sha256File(again)).toBe(sha256File(beta));
  });
});
