import { createServer, type Server, type Socket } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import {
  Cli,
  MiB,
  SETUP_TIMEOUT,
  addSites,
  holdings,
  imageChunks,
  requireBuild,
  writeImage,
} from "../helpers/e2e.js";
import { startSshd, type SshdInstance } from "../helpers/sshd.js";

requireBuild();
const t = tempDir("nitro-e2e-stall-");
const cli = new Cli(join(t.dir, "home"));
const here = join(t.dir, "here");
const good = join(t.dir, "site-good");
let sshd: SshdInstance;
// Accepts TCP connections and never says a word: an SSH server that hangs before its banner.
let mute: Server;
const held: Socket[] = [];

beforeAll(async () => {
  sshd = await startSshd();
  mute = createServer((s) => held.push(s));
  await new Promise<void>((resolve) => mute.listen(0, "127.0.0.1", resolve));
  await cli.okAsync(["--repo", here, "init", "--site", "here"]);
  await cli.okAsync(["--repo", good, "init", "--site", "good"]);
  addSites(cli, here, [
    { name: "good", url: sshd.url(good), identity: sshd.clientKeyPath },
    { name: "mute", url: `ssh://mute/${join(t.dir, "site-mute")}` },
  ]);
}, SETUP_TIMEOUT);

afterAll(async () => {
  held.forEach((s) => s.destroy());
  await new Promise((resolve) => mute?.close(resolve));
  await sshd?.destroy();
  t.cleanup();
});

it("pushes to the reachable sites when another one hangs, and reports the one that failed", async () => {
  const port = (mute.address() as { port: number }).port;
  const sshConfig = join(t.dir, "ssh_config");
  writeFileSync(sshConfig, `Host mute\n  HostName 127.0.0.1\n  Port ${port}\n  ConnectTimeout 3\n`);
  const img = writeImage(join(t.dir, "img.raw"), 8 * MiB, [{ at: 0, size: 4 * MiB, seed: "stall" }]);
  await cli.okAsync(["--repo", here, "add", img]);

  const r = await cli.runAsync([
    "--repo",
    here,
    "--json",
    "push",
    "img",
    "--to",
    "good,mute",
    "--no-announce",
    "--known-hosts",
    sshd.knownHostsPath,
    "--ssh-config",
    sshConfig,
  ]);
  expect(r.code).toBe(Exit.REMOTE);
  expect(JSON.parse(r.stdout)).toMatchObject({
    results: [{ site: "good" }],
    failures: [{ site: "mute" }],
    exitCode: Exit.REMOTE,
  });
  const ids = await imageChunks(here, "img");
  expect(await holdings(good, ids)).toEqual({ chunks: ids.size, held: ids.size, images: ["img"] });
});
