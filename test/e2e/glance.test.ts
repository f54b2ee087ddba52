import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FRAME_HEADER_BYTES, FRAME_MAGIC } from "../../src/store/pack.js";
import { ENTRY_BYTES } from "../../src/store/types.js";
import { nitro } from "../helpers/cli.js";
import { pseudoRandom, tempDir } from "../helpers/data.js";
import { MiB, SETUP_TIMEOUT, requireBuild, waitFor } from "../helpers/e2e.js";
import { GlanceApi, createDatabase, installDriver } from "../helpers/glance.js";
import { REMOTE_NITRO, startSshd, type SshdInstance } from "../helpers/sshd.js";

interface ListedImage {
  name: string;
  complete: boolean;
}

/**
 * Two sites, each with its own Glance API and nitro repository (a, b), and a third repository (c)
 * that both reach over SSH (a real sshd; the key in their site entries, its host key in the
 * known_hosts of the Glance process's home), as sites on other hosts are.
 */
describe("Glance with the nitro driver", () => {
  const tmp = tempDir("nitro-glance-");
  const repo = (site: string) => join(tmp.dir, "repo", site);
  let siteA: GlanceApi;
  let siteB: GlanceApi;
  let sshd: SshdInstance;
  // A second nitro backend of site A, on a 16 MiB tmpfs (mounting needs root, which CI has).
  const small = join(tmp.dir, "small");

  function run(args: string[]): string {
    const r = nitro(args);
    if (r.code !== 0) throw new Error(`nitro ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** The images of a site's repository (a, b, c) or of a repository's path. */
  function listed(site: string): ListedImage[] {
    const dir = site.includes("/") ? site : repo(site);
    return JSON.parse(run(["--repo", dir, "--json", "ls"])) as ListedImage[];
  }

  /** A real qcow2 (qemu-img convert) holding MiB of pseudo-random data and 6 MiB of zeros. */
  function qcow2(seed: string, mib: number): Buffer {
    const raw = join(tmp.dir, `${seed}.raw`);
    const out = join(tmp.dir, `${seed}.qcow2`);
    writeFileSync(raw, Buffer.concat([pseudoRandom(seed, mib * MiB), Buffer.alloc(6 * MiB)]));
    const r = spawnSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, out], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`qemu-img: ${r.stderr}`);
    return readFileSync(out);
  }

  /** Flips one payload byte of the last frame written to the repository (the newest image's tail). */
  function flipByteInNewestFrame(dir: string): void {
    const packs = readdirSync(join(dir, "packs"))
      .filter((f) => f.endsWith(".pack"))
      .map((f) => join(dir, "packs", f));
    const newest = packs.sort((x, y) => statSync(x).mtimeMs - statSync(y).mtimeMs).at(-1)!;
    const pack = readFileSync(newest);
    let last = -1;
    for (let at = 0; at + FRAME_HEADER_BYTES <= pack.length;) {
      if (pack.readUInt32LE(at) !== FRAME_MAGIC) break;
      const headerLength = FRAME_HEADER_BYTES + pack.readUInt16LE(at + 6) * ENTRY_BYTES;
      const payloadLength = pack.readUInt32LE(at + 12);
      last = at + headerLength + (payloadLength >>> 1);
      at += headerLength + payloadLength;
    }
    expect(last).toBeGreaterThan(0);
    pack[last]! ^= 0xff;
    writeFileSync(newest, pack);
  }

  async function uploadThroughA(name: string, data: Buffer): Promise<string> {
    const { id } = await siteA.createImage(name);
    expect(await siteA.upload(id, data), siteA.log()).toBe(204);
    return id;
  }

  beforeAll(async () => {
    requireBuild();
    const python = installDriver(tmp.dir);
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", small]);
    run(["--repo", join(small, "repo"), "init", "--site", "small", "--compress", "none"]);
    for (const site of ["a", "b", "c"]) run(["--repo", repo(site), "init", "--site", site]);
    sshd = await startSshd();
    const c = ["c", sshd.url(repo("c")), "--remote-command", REMOTE_NITRO, "--identity", sshd.clientKeyPath];
    run(["--repo", repo("a"), "site", "add", "b", repo("b")]);
    run(["--repo", repo("b"), "site", "add", "a", repo("a")]);
    for (const site of ["a", "b"]) run(["--repo", repo(site), "site", "add", ...c]);
    const database = join(tmp.dir, "glance.sqlite");
    createDatabase(join(tmp.dir, "db"), database);
    const dirOf = (site: string) => {
      const dir = join(tmp.dir, `glance-${site}`);
      // The Glance process's HOME (see glanceEnv): nitro's default known_hosts is under it.
      mkdirSync(join(dir, "home", ".ssh"), { recursive: true });
      copyFileSync(sshd.knownHostsPath, join(dir, "home", ".ssh", "known_hosts"));
      return dir;
    };
    [siteA, siteB] = await Promise.all([
      GlanceApi.start({
        python,
        dir: dirOf("a"),
        database,
        repo: repo("a"),
        pushTo: ["c"],
        moreBackends: { small: join(small, "repo") },
      }),
      GlanceApi.start({ python, dir: dirOf("b"), database, repo: repo("b") }),
    ]);
  }, SETUP_TIMEOUT);

  afterAll(async () => {
    await Promise.all([siteA?.stop(), siteB?.stop(), sshd?.destroy()]);
    spawnSync("umount", [small]);
    tmp.cleanup();
  });

  it("uploads a qcow2, returns Glance's hashes, downloads it byte-identical and in ranges, deletes it", async () => {
    const disk = qcow2("lamp", 3);
    expect(disk.subarray(0, 4).toString("latin1")).toBe("QFI\xfb");
    const id = await uploadThroughA("lamp", disk);

    const shown = await siteA.image(id);
    expect(shown).toMatchObject({ status: "active", size: disk.length, stores: "nitro" });
    expect(shown.checksum).toBe(createHash("md5").update(disk).digest("hex"));
    expect(shown.os_hash_algo).toBe("sha512");
    expect(shown.os_hash_value).toBe(createHash("sha512").update(disk).digest("hex"));
    expect(listed("a").find((i) => i.name === id)?.complete).toBe(true);

    const whole = await siteA.download(id);
    expect(whole.status).toBe(200);
    expect(whole.body.equals(disk)).toBe(true);
    const part = await siteA.download(id, "bytes=100000-299999");
    expect(part.status).toBe(206);
    expect(part.body.equals(disk.subarray(100000, 300000))).toBe(true);

    expect(await siteA.delete(id)).toBe(204);
    expect(listed("a").some((i) => i.name === id)).toBe(false);
    expect((await siteA.download(id)).status).toBe(404);
  });

  it("stores nothing for an upload cut off part-way, and accepts the same image again", async () => {
    const disk = qcow2("cut", 3);
    const { id } = await siteA.createImage("cut");
    const cut = await siteA.uploadPart(id, disk, Math.floor(disk.length / 2));
    const status = async () => (await siteA.image(id)).status;
    await waitFor("the upload to start", async () => (await status()) === "saving");
    cut();
    await waitFor("Glance to give the image up", async () => (await status()) === "queued");
    expect(listed("a").some((i) => i.name === id)).toBe(false);

    expect(await siteA.upload(id, disk), siteA.log()).toBe(204);
    expect((await siteA.download(id)).body.equals(disk)).toBe(true);
  });

  it("answers an upload to a full nitro store with 413 and stores nothing", async () => {
    const disk = qcow2("big", 24);
    const { id } = await siteA.createImage("big");
    expect(await siteA.upload(id, disk, "small")).toBe(413);
    expect(siteA.log()).toMatch(/Image storage media is full/);
    expect((await siteA.image(id)).status).toBe("queued");
    expect(listed(join(small, "repo")).some((i) => i.name === id)).toBe(false);
  });

  it("pushes an upload at site A to c over SSH; site B pulls it on first read and serves it byte-identical", async () => {
    const disk = qcow2("web", 4);
    const id = await uploadThroughA("web", disk);
    expect(listed("c").find((i) => i.name === id)?.complete).toBe(true);
    expect(listed("b").find((i) => i.name === id)?.complete).toBe(false);

    const got = await siteB.download(id);
    expect(got.status, siteB.log()).toBe(200);
    expect(got.body.equals(disk)).toBe(true);
    expect(listed("b").find((i) => i.name === id)?.complete).toBe(true);
  });

  it("cuts a download short of its length when a chunk turns out damaged mid-image", async () => {
    // 40 MiB: nitro export has at most 20 MiB of jobs in flight, so the damaged tail is found
    // only after Glance has answered 200 and sent the first bytes.
    const disk = qcow2("damaged", 40);
    const id = await uploadThroughA("damaged", disk);
    flipByteInNewestFrame(repo("a"));

    const res = await fetch(`${siteA.url}/v2/images/${id}/file`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(disk.length));
    await expect(res.arrayBuffer()).rejects.toThrow();
  });

  it("answers an image whose chunks no site holds with Glance's no-data status, never a short download", async () => {
    const disk = qcow2("lost", 2);
    const id = await uploadThroughA("lost", disk);
    for (const site of ["a", "c"]) {
      run(["--repo", repo(site), "rm", id]);
      run(["--repo", repo(site), "gc", "--max-unused", "0"]);
    }
    expect(listed("b").find((i) => i.name === id)?.complete).toBe(false);

    const got = await siteB.download(id);
    // glance-api answers a store's NotFound on download with 204 No Content and no body.
    expect(got.status).toBe(204);
    expect(got.body.length).toBe(0);
    expect(siteB.log()).toMatch(/exceptions\.NotFound: .* held by no reachable site/);
    expect(listed("b").find((i) => i.name === id)?.complete).toBe(false);
  });
});
