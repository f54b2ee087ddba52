import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveSshEndpoint } from "../../../src/site/ssh/config.js";
import { Exit } from "../../../src/util/errors.js";

let dir: string;
let configPath: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nitro-sshconfig-"));
  configPath = join(dir, "config");
  await writeFile(
    configPath,
    [
      "Host lyon",
      "  HostName lyon.example.org",
      "  User nitro",
      "  Port 2222",
      "  IdentityFile ~/.ssh/lyon_key",
      "  IdentityFile %d/.ssh/%r@%h",
      "  UserKnownHostsFile /etc/nitro/known_hosts",
      "  HostKeyAlias lyon-store",
      "  IdentitiesOnly yes",
      "  ConnectTimeout 7",
      "",
      "Host paris",
      "  hostname 10.0.0.2",
      "  identityagent none",
      "",
      "Host *.example.org",
      "  User web",
      "  Port 2200",
      "",
      "Host *",
      "  User fallback",
      "  Port 22",
      "  IdentityFile /keys/common",
      "",
    ].join("\n"),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("resolveSshEndpoint", () => {
  it("resolves an alias to its HostName, User, Port and identity files (first value wins)", async () => {
    const ep = await resolveSshEndpoint("lyon", { configPath });
    expect(ep).toMatchObject({
      alias: "lyon",
      host: "lyon.example.org",
      user: "nitro",
      port: 2222,
      identitiesOnly: true,
      knownHostsFiles: ["/etc/nitro/known_hosts"],
      hostKeyAlias: "lyon-store",
      connectTimeout: 7,
    });
    // IdentityFile accumulates across matching blocks, tokens expanded.
    expect(ep.identityFiles).toEqual([
      join(homedir(), ".ssh/lyon_key"),
      join(homedir(), ".ssh/nitro@lyon.example.org"),
      "/keys/common",
    ]);
  });

  it("lets explicit user, port and -i identities override the config", async () => {
    const ep = await resolveSshEndpoint("lyon", {
      configPath,
      user: "root",
      port: 22,
      identityFiles: ["/tmp/k"],
    });
    expect(ep).toMatchObject({ host: "lyon.example.org", user: "root", port: 22 });
    expect(ep.identityFiles[0]).toBe("/tmp/k");
    expect(ep.identityFiles).toContain(join(homedir(), ".ssh/lyon_key"));
  });

  it("matches wildcard blocks and is case-insensitive on directive names", async () => {
    expect(await resolveSshEndpoint("www.example.org", { configPath })).toMatchObject({
      host: "www.example.org",
      user: "web",
      port: 2200,
    });
    expect(await resolveSshEndpoint("paris", { configPath })).toMatchObject({
      host: "10.0.0.2",
      user: "fallback",
      identityAgent: "none",
    });
  });

  it("falls back to the host itself, port 22 and the local user without a config", async () => {
    const ep = await resolveSshEndpoint("10.1.2.3", { configPath: "/dev/null" });
    expect(ep).toEqual({
      alias: "10.1.2.3",
      host: "10.1.2.3",
      port: 22,
      user: userInfo().username,
      identityFiles: [],
      identitiesOnly: false,
      knownHostsFiles: [],
    });
  });

  it("refuses a missing explicit config file and a bad port", async () => {
    await expect(resolveSshEndpoint("x", { configPath: join(dir, "absent") })).rejects.toMatchObject({
      exitCode: Exit.NOT_FOUND,
    });
    const bad = join(dir, "bad");
    await writeFile(bad, "Host x\n  Port http\n");
    await expect(resolveSshEndpoint("x", { configPath: bad })).rejects.toMatchObject({
      exitCode: Exit.USAGE,
    });
  });
});
