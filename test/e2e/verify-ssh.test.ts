import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { corruptChunks, damageFrameHeader, storedChunks, type StoredChunk } from "../helpers/damage.js";
import {
  Cli,
  MiB,
  SETUP_TIMEOUT,
  addSites,
  imageChunks,
  requireBuild,
  withRepo,
  writeImage,
  type Region,
} from "../helpers/e2e.js";
import { startSshd, type SshdInstance } from "../helpers/sshd.js";

interface FindingJson {
  kind: string;
  chunk?: string;
  images: string[];
}
interface PassJson {
  chunks: number;
  dropped: number;
  findings: FindingJson[];
  incomplete: string[];
}
interface RepairJson {
  before: PassJson;
  repair: { dropped: number; restoredChunks: number; lostChunks: string[]; lostImages: string[] };
  after: PassJson;
}

requireBuild();
const t = tempDir("nitro-e2e-verify-");
const cli = new Cli(join(t.dir, "home"));
const repo = (name: string) => join(t.dir, name);
const template = (name: string) => join(t.dir, `${name}-template`);
let sshd: SshdInstance;

// Three images sharing regions, so that a chunk can break more than one image.
const R = (k: number, at: number): Region => ({ at: at * MiB, size: 3 * MiB, seed: `region-${k}` });
const IMAGES: Record<string, Region[]> = {
  alpha: [R(1, 0), R(2, 4)],
  beta: [R(2, 0), R(3, 4)],
  gamma: [R(3, 0), R(4, 4)],
};
/** Image name -> its chunks (hex ids), as the origin recorded them. */
const usedBy = new Map<string, string[]>();

const ssh = () => ["--ssh-config", sshd.sshConfigPath];
const run = (args: string[]) => cli.run(["--repo", repo("origin"), ...args, ...ssh()]);
const json = <T>(args: string[]): { code: number; out: T } => {
  const r = run(["--json", ...args]);
  if (r.code !== 0 && r.code !== Exit.CORRUPT && r.code !== Exit.INCOMPLETE)
    throw new Error(`nitro ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return { code: r.code, out: JSON.parse(r.stdout) as T };
};

/** Puts every repository back as the set-up left it (whole copies at origin, x and y). */
function restoreAll(): void {
  for (const name of ["origin", "x", "y"]) {
    rmSync(repo(name), { recursive: true, force: true });
    cpSync(template(name), repo(name), { recursive: true });
  }
}

const ids = (fs: readonly FindingJson[]) => fs.map((f) => f.chunk!).sort();
const imagesOf = (id: string) => [...usedBy].filter(([, c]) => c.includes(id)).map(([n]) => n);

beforeAll(async () => {
  sshd = await startSshd();
  const init = (name: string) =>
    cli.okAsync(["--repo", repo(name), "init", "--site", name, "--avg-size", "16K", "--compress", "none"]);
  await Promise.all(["origin", "x", "y"].map(init));
  addSites(cli, repo("origin"), [
    { name: "x", url: `ssh://${sshd.alias}${repo("x")}` },
    { name: "y", url: `ssh://${sshd.alias}${repo("y")}` },
  ]);
  for (const [name, regions] of Object.entries(IMAGES)) {
    const file = writeImage(join(t.dir, `${name}.raw`), 8 * MiB, regions);
    cli.ok(["--repo", repo("origin"), "add", file]);
    cli.ok(["--repo", repo("origin"), "push", name, "--to", "x,y", ...ssh()]);
    usedBy.set(name, [...(await imageChunks(repo("origin"), name))]);
  }
  for (const name of ["origin", "x", "y"]) cpSync(repo(name), template(name), { recursive: true });
}, SETUP_TIMEOUT);

afterAll(async () => {
  await sshd?.destroy();
  t.cleanup();
});

describe("nitro verify --site over ssh", () => {
  it("finds every chunk corrupted on disk (1%), repairs them from the other sites, then verifies clean", async () => {
    restoreAll();
    const all = await storedChunks(repo("x"));
    const victims = all.filter((_, i) => i % 100 === 50);
    expect(victims.length).toBeGreaterThanOrEqual(Math.floor(all.length / 100));
    corruptChunks(repo("x"), victims);
    const want = victims.map((c) => c.id).sort();

    // Without --read-data only the structure is checked: raw bytes flipped inside frames pass it.
    expect(json<PassJson>(["verify", "--site", "x"])).toMatchObject({ code: 0, out: { findings: [] } });

    const found = json<PassJson>(["verify", "--site", "x", "--read-data"]);
    expect(found.code).toBe(Exit.CORRUPT);
    expect(ids(found.out.findings)).toEqual(want);
    for (const f of found.out.findings) {
      expect(f.kind).toBe("bad-hash");
      expect(f.images.sort()).toEqual(imagesOf(f.chunk!));
    }

    const r = json<RepairJson>(["verify", "--site", "x", "--read-data", "--repair"]);
    expect(r.code).toBe(0);
    expect(ids(r.out.before.findings)).toEqual(want);
    expect(r.out.repair).toMatchObject({ dropped: want.length, restoredChunks: want.length, lostChunks: [] });
    expect(r.out.after.findings).toEqual([]);
    expect(r.out.after.incomplete).toEqual([]);

    expect(json<PassJson>(["verify", "--site", "x", "--read-data"])).toMatchObject({
      code: 0,
      out: { findings: [], chunks: all.length },
    });
    // The site's own check agrees: every image whole, nothing damaged.
    const check = await withRepo(repo("x"), (s) => s.check(true));
    expect(check.findings).toEqual([]);
    expect(check.incomplete).toEqual([]);
  });

  it("finds every chunk of a frame with a damaged header, without reading data, and repairs it", async () => {
    restoreAll();
    const all = await storedChunks(repo("x"));
    const frame = all[Math.floor(all.length / 2)]!;
    const inFrame = all.filter((c) => c.pack === frame.pack && c.frameOffset === frame.frameOffset);
    damageFrameHeader(repo("x"), frame.pack, frame.frameOffset);

    const found = json<PassJson>(["verify", "--site", "x"]);
    expect(found.code).toBe(Exit.CORRUPT);
    expect(ids(found.out.findings)).toEqual(inFrame.map((c) => c.id).sort());
    expect(new Set(found.out.findings.map((f) => f.kind))).toEqual(new Set(["bad-header"]));

    const r = json<RepairJson>(["verify", "--site", "x", "--repair"]);
    expect(r.code).toBe(0);
    expect(r.out.repair.restoredChunks).toBe(inFrame.length);
    expect(r.out.after.findings).toEqual([]);
    expect(json<PassJson>(["verify", "--site", "x", "--read-data"])).toMatchObject({
      code: 0,
      out: { findings: [] },
    });
  });

  it("exits 10 naming the images lost when a chunk has no good copy anywhere, restoring the others", async () => {
    restoreAll();
    const all = await storedChunks(repo("x"));
    const lost = all[7]!;
    const others = all.filter((_, i) => i % 97 === 3);
    const byId = async (name: string, want: StoredChunk) =>
      (await storedChunks(repo(name))).find((c) => c.id === want.id)!;
    corruptChunks(repo("x"), [lost, ...others]);
    corruptChunks(repo("y"), [await byId("y", lost)]);
    corruptChunks(repo("origin"), [await byId("origin", lost)]);

    // This node's own store: the same streamed verify, in-process.
    const here = json<PassJson>(["verify", "--read-data"]);
    expect(here.code).toBe(Exit.CORRUPT);
    expect(ids(here.out.findings)).toEqual([lost.id]);

    const r = cli.run([
      "--repo",
      repo("origin"),
      "verify",
      "--site",
      "x",
      "--read-data",
      "--repair",
      ...ssh(),
    ]);
    expect(r.code).toBe(Exit.INCOMPLETE);
    const images = imagesOf(lost.id);
    expect(images.length).toBeGreaterThan(0);
    expect(r.stdout).toContain(`images lost: ${images.join(", ")}`);
    expect(r.stdout).toContain(lost.id);

    const again = json<RepairJson>(["verify", "--site", "x", "--read-data", "--repair", ...images]);
    expect(again.code).toBe(Exit.INCOMPLETE);
    expect(again.out.repair.lostChunks).toEqual([lost.id]);
    expect(again.out.repair.lostImages).toEqual(images);
    expect(again.out.after.findings).toEqual([]);
    // Every other damaged chunk came back from a good copy.
    await withRepo(repo("x"), (s) => {
      const held = s.has(others.map((c) => Buffer.from(c.id, "hex")));
      expect(held.every(Boolean)).toBe(true);
      expect(s.check(true).findings).toEqual([]);
    });
  });

  it("repairs this node from the ssh sites, the planner spreading the chunks over them", async () => {
    restoreAll();
    const all = await storedChunks(repo("origin"));
    const victims = all.filter((_, i) => i % 50 === 25);
    corruptChunks(repo("origin"), victims);
    const r = json<RepairJson & { repair: { sources: Array<{ site: string; chunks: number }> } }>([
      "verify",
      "--read-data",
      "--repair",
    ]);
    expect(r.code).toBe(0);
    expect(ids(r.out.before.findings)).toEqual(victims.map((c) => c.id).sort());
    expect(r.out.repair.restoredChunks).toBe(victims.length);
    expect(r.out.repair.sources.map((s) => s.site).sort()).toEqual(["x", "y"]);
    expect(r.out.after.findings).toEqual([]);
  });
});
