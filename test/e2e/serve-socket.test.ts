import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Exit } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";
import {
  Cli,
  MiB,
  SETUP_TIMEOUT,
  addSites,
  holdings,
  requireBuild,
  sha256File,
  writeImage,
} from "../helpers/e2e.js";
import { startSocketServer, type SocketServer } from "../helpers/serve-socket.js";
import { REMOTE_NITRO, startSshd, type SshdInstance } from "../helpers/sshd.js";

requireBuild();
const t = tempDir("nitro-e2e-sock-");
const cli = new Cli(join(t.dir, "home"));
const far = join(t.dir, "far");
const dest = join(t.dir, "dest");
const img = writeImage(join(t.dir, "img.raw"), 12 * MiB, [
  { at: 0, size: 3 * MiB, seed: "a" },
  { at: 6 * MiB, size: 2 * MiB, seed: "b", text: true },
]);
let sshd: SshdInstance;
let server: SocketServer | undefined;

beforeAll(async () => {
  sshd = await startSshd();
  await cli.okAsync(["--repo", far, "init", "--site", "far"]);
  await cli.okAsync(["--repo", far, "add", img, "--name", "img"]);
  await cli.okAsync(["--repo", dest, "init", "--site", "d"]);
  addSites(cli, dest, [{ name: "far", url: sshd.url(far), identity: sshd.clientKeyPath }]);
}, SETUP_TIMEOUT);

afterAll(async () => {
  await server?.kill("SIGKILL");
  await sshd?.destroy();
  t.cleanup();
});

const pull = (out: string) =>
  cli.runAsync([
    "--repo",
    dest,
    "pull",
    "img",
    "-o",
    out,
    "--known-hosts",
    sshd.knownHostsPath,
    "--ssh-config",
    "/dev/null",
  ]);

describe("a site with nitro serve --socket running", () => {
  it("is reached through its socket, and through `serve --stdio` once it stops", async () => {
    server = await startSocketServer(far);
    cli.env.NITRO_TRACE = "1";
    try {
      const viaSocket = await pull(join(t.dir, "one.img"));
      expect(viaSocket.code).toBe(0);
      expect(viaSocket.stderr).toContain(`socket ${far}/serve.sock open`);
      expect(viaSocket.stderr).not.toContain("command started");
      expect(sha256File(join(t.dir, "one.img"))).toBe(sha256File(img));
      expect(await server.kill()).toEqual({ code: 0, stderr: "" });
      server = undefined;

      const viaCommand = await pull(join(t.dir, "two.img"));
      expect(viaCommand.code).toBe(0);
      expect(viaCommand.stderr).toContain(`no server on ${far}/serve.sock`);
      expect(viaCommand.stderr).toContain("command started");
      expect(sha256File(join(t.dir, "two.img"))).toBe(sha256File(img));
    } finally {
      delete cli.env.NITRO_TRACE;
    }
  });

  it("does not let a key restricted to `serve --read-only` write through the socket", async () => {
    const ro = join(t.dir, "ro");
    await cli.okAsync(["--repo", ro, "init", "--site", "ro"]);
    server = await startSocketServer(ro);
    const key = await sshd.newClientKey("reader");
    await sshd.authorize(
      readFileSync(`${key}.pub`, "utf8"),
      `command="${REMOTE_NITRO} serve --stdio --repo ${ro} --read-only",restrict`,
    );
    addSites(cli, far, [{ name: "ro", url: sshd.url(ro), identity: key }]);
    const r = cli.run([
      "--repo",
      far,
      "push",
      "img",
      "--to",
      "ro",
      "--no-announce",
      "--known-hosts",
      sshd.knownHostsPath,
    ]);
    expect(r.code).toBe(Exit.FAILURE);
    expect(r.stderr).toMatch(/^nitro: site ro is read-only$/m);
    expect(await holdings(ro)).toEqual({ chunks: 0, held: 0, images: [] });
    await server.kill();
    server = undefined;
  });
});
