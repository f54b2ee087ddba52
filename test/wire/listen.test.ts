import { existsSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RemoteSite } from "../../src/site/remote.js";
import { Exit } from "../../src/util/errors.js";
import { nitro, nitroAsync } from "../helpers/cli.js";
import { tempDir } from "../helpers/data.js";
import { requireBuild } from "../helpers/e2e.js";
import { startSocketServer } from "../helpers/serve-socket.js";
import { addTestImage, newStore } from "../helpers/sites.js";

requireBuild();
const t = tempDir("nitro-listen-");
afterAll(() => t.cleanup());
let repos = 0;

async function repoWithImage(): Promise<string> {
  const name = `r${++repos}`;
  const store = newStore(t.dir, name);
  await addTestImage(store, t.dir, `img-${name}`, "img");
  await store.close();
  return join(t.dir, name);
}

/** A client session on the socket, as SSH's streamlocal channel would carry it. */
async function openSession(path: string): Promise<RemoteSite> {
  const socket = connect(path);
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const site = new RemoteSite("far", socket, { closeTransport: async () => void socket.end() });
  await site.ready();
  return site;
}

describe("nitro serve --socket", () => {
  it("serves concurrent sessions, each its own; says nothing; SIGTERM ends it and removes the socket", async () => {
    const repo = await repoWithImage();
    const server = await startSocketServer(repo);
    expect(statSync(server.socketPath).mode & 0o077).toBe(0);
    const [a, b] = await Promise.all([openSession(server.socketPath), openSession(server.socketPath)]);
    const [ra, rb] = await Promise.all([
      a.getRecipe(`img-${repo.split("/").pop()}`),
      b.getRecipe(`img-${repo.split("/").pop()}`),
    ]);
    expect(ra?.digest).toBeDefined();
    expect(rb?.digest).toEqual(ra?.digest);
    await a.close();
    expect((await b.listRecipes()).length).toBe(1);
    // Asked as the server stops: answered or refused, never left hanging.
    const pending = b.listRecipes().then(
      () => "answered",
      (err: Error) => err.message,
    );
    const exit = await server.kill("SIGTERM");
    expect(await pending).toMatch(/^(answered|far: connection (closed|lost).*)$/);
    expect(exit).toEqual({ code: 0, stderr: "" });
    expect(existsSync(server.socketPath)).toBe(false);
    await expect(b.listRecipes()).rejects.toThrow(/far: connection (closed|lost)/);
    await b.close();
  });

  it("refuses a second server on a live socket (exit 4), replaces the socket of a killed one", async () => {
    const repo = await repoWithImage();
    const first = await startSocketServer(repo);
    const second = await nitroAsync(["--repo", repo, "serve", "--socket"]);
    expect(second.code).toBe(Exit.EXISTS);
    expect(second.stderr).toContain("already listening");
    await first.kill("SIGKILL");
    expect(existsSync(first.socketPath)).toBe(true);
    const again = await startSocketServer(repo);
    const site = await openSession(again.socketPath);
    expect((await site.listRecipes()).length).toBe(1);
    await site.close();
    await again.kill();
  });

  it("bad input: a file in the socket's place, a path too long, no repository, no mode, both modes", async () => {
    const repo = await repoWithImage();
    const file = join(t.dir, "not-a-socket");
    writeFileSync(file, "keep me");
    const run = (args: string[], r = repo) => nitro(["--repo", r, "serve", ...args]);
    const onFile = run(["--socket", file]);
    expect([onFile.code, onFile.stderr]).toEqual([Exit.EXISTS, expect.stringContaining("not a socket")]);
    const long = run(["--socket", join(t.dir, "x".repeat(120))]);
    expect([long.code, long.stderr]).toEqual([Exit.USAGE, expect.stringContaining("too long")]);
    expect(run(["--socket"], join(t.dir, "missing")).code).toBe(Exit.NOT_FOUND);
    expect(run([]).code).toBe(Exit.USAGE);
    expect(run(["--stdio", "--socket"]).code).toBe(Exit.USAGE);
  });

  it("--read-only refuses writes on every session", async () => {
    const repo = await repoWithImage();
    const server = await startSocketServer(repo, ["--read-only"]);
    const site = await openSession(server.socketPath);
    expect(site.readOnly).toBe(true);
    await site.close();
    await server.kill();
  });
});
