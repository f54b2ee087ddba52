import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import { Cli, MiB, SETUP_TIMEOUT, addSites, requireBuild, sha256File, writeImage } from "../helpers/e2e.js";
import { lyingRemoteCommand, type Lie } from "../helpers/fake-site.js";
import { startSshd, type SshdInstance } from "../helpers/sshd.js";

// Sites that lie (fake-serve.mjs relaying a real `nitro serve` over real sshd): the client keeps
// its own repository and terminal clean, names the liar, and never writes a wrong image.
requireBuild();
const t = tempDir("nitro-e2e-liar-");
const cli = new Cli(join(t.dir, "home"));
const origin = join(t.dir, "origin");
const held = join(t.dir, "site-held");
const t40 = writeImage(join(t.dir, "t40.raw"), 8 * MiB, [{ at: 0, size: 2 * MiB, seed: "t40" }]);
const other = writeImage(join(t.dir, "other.raw"), 8 * MiB, [{ at: MiB, size: 2 * MiB, seed: "other" }]);
let sshd: SshdInstance;

const site = (name: string, lie: Lie) => ({
  name,
  url: sshd.url(held),
  identity: sshd.clientKeyPath,
  remoteCommand: lyingRemoteCommand(lie),
});

let fresh = 0;
/** A new node whose sites are `liar` (lying as `lie`) and, when asked, an honest `good`. */
async function newNode(lie: Lie, withGood = false): Promise<string> {
  const dir = join(t.dir, `node-${++fresh}`);
  await cli.okAsync(["--repo", dir, "init", "--site", `n${fresh}`]);
  addSites(cli, dir, [site("liar", lie), ...(withGood ? [site("good", "honest")] : [])]);
  return dir;
}

const ssh = () => ["--known-hosts", sshd.knownHostsPath];
const imagesAt = (dir: string) => cli.json<Array<{ name: string }>>(["--repo", dir, "ls"]).map((i) => i.name);

beforeAll(async () => {
  sshd = await startSshd();
  await Promise.all([
    cli.okAsync(["--repo", origin, "init", "--site", "origin"]),
    cli.okAsync(["--repo", held, "init", "--site", "held"]),
  ]);
  addSites(cli, origin, [{ name: "held", url: sshd.url(held), identity: sshd.clientKeyPath }]);
  for (const file of [t40, other])
    await cli.okAsync(["--repo", origin, "push", file, "--to", "held", "--no-announce", ...ssh()]);
}, SETUP_TIMEOUT);

afterAll(async () => {
  await sshd?.destroy();
  t.cleanup();
});

describe("a site that answers with a recipe that is not the one asked for", () => {
  it.each([
    ["another image's recipe", "other-recipe=other" as Lie],
    ["a digest that does not match the entries", "bad-digest" as Lie],
    ["a name that climbs out of the repository", "evil-name" as Lie],
    ["a different, huge recipe", "huge-recipe=2000000" as Lie],
  ])("%s: pull refuses it (exit 5), names the site, writes and stores nothing", async (_what, lie) => {
    const node = await newNode(lie);
    const out = join(t.dir, `out-${fresh}.raw`);
    const r = await cli.runAsync(["--repo", node, "pull", "t40", "-o", out, ...ssh()]);
    expect(r.code, r.stderr).toBe(Exit.CORRUPT);
    expect(r.stderr).toMatch(/liar: /);
    expect(existsSync(out)).toBe(false);
    expect(imagesAt(node)).toEqual([]);
    expect(readdirSync(t.dir).filter((f) => f === "x" || f.startsWith(".."))).toEqual([]);
    expect(cli.run(["--repo", node, "check"]).code).toBe(Exit.OK);
  });

  it("a pull passes over the liar and rebuilds the right image from an honest site", async () => {
    const node = await newNode("bad-digest", true);
    const out = join(t.dir, "from-good.raw");
    await cli.okAsync(["--repo", node, "pull", "t40", "-o", out, ...ssh()]);
    expect(sha256File(out)).toBe(sha256File(t40));
    expect(imagesAt(node)).toEqual(["t40"]);
  });
});

describe("a site's words are data", () => {
  // EVIL_TEXT clears the screen, retitles the terminal and forges a "nitro: error:" line.
  it.each(["error-escapes", "fatal-escapes"] as const)(
    "%s: printed escaped and labelled with the site, and its exit code 70 becomes REMOTE",
    async (lie) => {
      const node = await newNode(lie);
      await cli.okAsync(["--repo", node, "add", t40]);
      const r = await cli.runAsync([
        "--repo",
        node,
        "push",
        "t40",
        "--to",
        "liar",
        "--no-announce",
        ...ssh(),
      ]);
      expect(r.code, r.stderr).toBe(Exit.REMOTE);
      // eslint-disable-next-line no-control-regex -- the point: no raw control character gets through
      expect(r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
      expect(r.stderr).toContain("\\x1b[2J");
      expect(r.stderr.split("\n").filter((l) => l.startsWith("nitro: error: repository corrupt"))).toEqual(
        [],
      );
      expect(r.stderr).toMatch(/liar: .*boom/);
    },
  );
});
