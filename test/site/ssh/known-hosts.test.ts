import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkHostKey,
  entryMatches,
  fingerprint,
  knownHostsName,
  knownKeyTypes,
  readKnownHosts,
  verifyHostKey,
} from "../../../src/site/ssh/known-hosts.js";
import { Exit } from "../../../src/util/errors.js";

const run = promisify(execFile);
let dir: string;
let keyA: { line: string; blob: Buffer };
let keyB: { line: string; blob: Buffer };

async function makeKey(name: string) {
  const path = join(dir, name);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path]);
  const line = (await readFile(`${path}.pub`, "utf8")).trim().split(" ").slice(0, 2).join(" ");
  return { line, blob: Buffer.from(line.split(" ")[1]!, "base64") };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nitro-known-hosts-"));
  keyA = await makeKey("a");
  keyB = await makeKey("b");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("known_hosts", () => {
  it("names non-22 ports as [host]:port", () => {
    expect(knownHostsName("lyon", 22)).toBe("lyon");
    expect(knownHostsName("127.0.0.1", 2222)).toBe("[127.0.0.1]:2222");
  });

  it("matches plain, wildcard and negated patterns", () => {
    expect(entryMatches("lyon,paris", "paris")).toBe(true);
    expect(entryMatches("lyon,paris", "berlin")).toBe(false);
    expect(entryMatches("*.example.org,!evil.example.org", "www.example.org")).toBe(true);
    expect(entryMatches("*.example.org,!evil.example.org", "evil.example.org")).toBe(false);
    expect(entryMatches("[127.0.0.1]:2222", "[127.0.0.1]:2222")).toBe(true);
    expect(entryMatches("[127.0.0.1]:2222", "127.0.0.1")).toBe(false);
    expect(entryMatches("host?", "HOST1")).toBe(true);
  });

  it("reads entries hashed by ssh-keygen -H", async () => {
    const file = join(dir, "hashed");
    await writeFile(file, `# comment\nlyon ${keyA.line}\n[127.0.0.1]:2222 ${keyB.line}\n`);
    await run("ssh-keygen", ["-q", "-H", "-f", file]);
    const text = await readFile(file, "utf8");
    expect(text).not.toContain("lyon");
    const entries = await readKnownHosts([file]);
    expect(entries.every((e) => e.hosts.startsWith("|1|"))).toBe(true);
    expect(checkHostKey(entries, "lyon", keyA.blob).status).toBe("known");
    expect(checkHostKey(entries, "[127.0.0.1]:2222", keyB.blob).status).toBe("known");
    expect(checkHostKey(entries, "[127.0.0.1]:2222", keyA.blob).status).toBe("changed");
    expect(checkHostKey(entries, "paris", keyA.blob).status).toBe("unknown");
    expect(knownKeyTypes(entries, "lyon")).toEqual(["ssh-ed25519"]);
  });

  it("refuses revoked keys even for other hosts", async () => {
    const file = join(dir, "revoked");
    await writeFile(file, `lyon ${keyA.line}\n@revoked * ${keyA.line}\n`);
    expect(checkHostKey(await readKnownHosts([file]), "lyon", keyA.blob).status).toBe("revoked");
  });

  it("refuses an unknown key with a hint, and leaves the file alone", async () => {
    const file = join(dir, "unknown");
    await writeFile(file, `lyon ${keyA.line}\n`);
    const err = await verifyHostKey(keyB.blob, {
      host: "paris",
      port: 2222,
      files: [file],
      acceptNew: false,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: Exit.HOST_KEY });
    expect(String((err as Error).message)).toMatch(/\[paris\]:2222 is unknown.*--accept-new/);
    expect(String((err as Error).message)).toContain(fingerprint(keyB.blob));
    expect(await readFile(file, "utf8")).toBe(`lyon ${keyA.line}\n`);
  });

  it("accept-new appends an unknown key, then accepts it and still refuses a changed one", async () => {
    const file = join(dir, "sub", "accept-new");
    const opts = { host: "127.0.0.1", port: 2200, files: [file], acceptNew: true };
    await verifyHostKey(keyA.blob, opts);
    expect(await readFile(file, "utf8")).toBe(`[127.0.0.1]:2200 ${keyA.line}\n`);
    await verifyHostKey(keyA.blob, { ...opts, acceptNew: false });
    await expect(verifyHostKey(keyB.blob, opts)).rejects.toMatchObject({
      exitCode: Exit.HOST_KEY,
      message: expect.stringMatching(/HAS CHANGED/),
    });
    expect(await readFile(file, "utf8")).toBe(`[127.0.0.1]:2200 ${keyA.line}\n`);
  });

  it("looks keys up under HostKeyAlias when one is set", async () => {
    const file = join(dir, "alias");
    await writeFile(file, `lyon-store ${keyA.line}\n`);
    await verifyHostKey(keyA.blob, {
      host: "10.0.0.1",
      port: 22,
      hostKeyAlias: "lyon-store",
      files: [file],
      acceptNew: false,
    });
    await expect(
      verifyHostKey(keyA.blob, { host: "10.0.0.1", port: 22, files: [file], acceptNew: false }),
    ).rejects.toMatchObject({ exitCode: Exit.HOST_KEY });
  });
});
