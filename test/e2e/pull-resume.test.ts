import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PullReport } from "../../src/transfer/pull.js";
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
import { NITRO_BIN } from "../helpers/cli.js";
import { startSshd, type SshdInstance } from "../helpers/sshd.js";

requireBuild();
const t = tempDir("nitro-e2e-resume-");
const cli = new Cli(join(t.dir, "home"));
const source = join(t.dir, "site-a");
const dest = join(t.dir, "dest");
/** Incompressible: its wire bytes are its size; well over two commit intervals (64 MiB). */
const SIZE = 176 * MiB;
const COMMIT_EVERY = 64 * MiB;
const image = writeImage(join(t.dir, "big.raw"), SIZE + MiB, [{ at: 0, size: SIZE, seed: "big" }]);
let sshd: SshdInstance;

beforeAll(async () => {
  sshd = await startSshd();
  await cli.okAsync(["--repo", source, "init", "--site", "a"]);
  await cli.okAsync(["--repo", dest, "init", "--site", "d"]);
  await cli.okAsync(["--repo", source, "add", image, "--name", "big"]);
}, SETUP_TIMEOUT);

afterAll(async () => {
  await sshd?.destroy();
  t.cleanup();
});

describe("a pull killed half-way", () => {
  it("is resumed by running it again: only the rest travels, and the image is identical", async () => {
    // The link is emulated at 40 MB/s: the whole image takes about 4.6 s.
    const link = throttledNitro(t.dir, "a", 40e6);
    addSites(cli, dest, [{ name: "a", url: `ssh://${sshd.alias}${source}`, remoteCommand: link.command }]);
    const out = join(t.dir, "pulled.raw");
    const args = ["--repo", dest, "--json", "pull", "big", "-o", out, "--ssh-config", sshd.sshConfigPath];

    const first = spawn(process.execPath, [NITRO_BIN, ...args], { env: { ...process.env, ...cli.env } });
    const exited = new Promise((r) => first.on("close", r));
    await waitFor(
      "the first pull to fetch 2 commit intervals",
      () => link.bytes() > 2 * COMMIT_EVERY,
      60_000,
    );
    first.kill("SIGKILL");
    await exited;
    // The throttle writes its count when its session ends (the ssh connection closing).
    let before = -1;
    await waitFor("the first session's count to settle", () => {
      const now = link.bytes();
      const settled = now === before;
      before = now;
      return settled && now > 2 * COMMIT_EVERY;
    });
    const sentFirst = before;
    expect(sentFirst).toBeLessThan(SIZE);

    const r = parseJson<PullReport>(await cli.runAsync(args), ["pull again"]);
    const sentAgain = link.bytes();
    expect(sha256File(out)).toBe(sha256File(image));
    expect(r.present).toBeGreaterThan(0);
    // At most what the first run had not fetched, plus one commit interval; give or take what
    // was in the pipes and SSH windows at the kill, and 1% of framing.
    const inFlight = 8 * MiB;
    expect(sentAgain).toBeLessThanOrEqual((SIZE - sentFirst + COMMIT_EVERY + inFlight) * 1.01);
    expect(r.wireBytes).toBeLessThan(SIZE - MiB);
  }, 120_000);
});
