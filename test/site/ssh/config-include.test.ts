import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveSshEndpoint } from "../../../src/site/ssh/config.js";
import { Exit } from "../../../src/util/errors.js";

let dir: string;
const file = (name: string) => join(dir, name);
const lines = (...l: string[]) => l.join("\n") + "\n";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nitro-sshinclude-"));
  await mkdir(file("conf.d"));
  await writeFile(file("conf.d/20-paris.conf"), lines("Host paris", "  HostName 10.0.0.2", "  Port 2202"));
  await writeFile(
    file("conf.d/10-lyon.conf"),
    lines("Host lyon", "  HostName lyon.example.org", "  Port 2201"),
  );
  await writeFile(file("conf.d/notes.txt"), lines("Host lyon", "  Port 9999"));
  await writeFile(file("lyon-user.conf"), lines("User from-include"));
  await writeFile(file("loop.conf"), lines(`Include ${file("loop.conf")}`));
  await writeFile(
    file("config"),
    lines(
      "Port 2000",
      `Include ${file("conf.d")}/*.conf ${file("absent.conf")}`,
      "User top-level-after-include",
      "Host lyon",
      `  Include "${file("lyon-user.conf")}"`,
      "  IdentityFile /keys/lyon",
    ),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("Include in ssh_config", () => {
  it("follows a glob (sorted, matching names only) and skips a file that does not exist", async () => {
    const lyon = await resolveSshEndpoint("lyon", { configPath: file("config") });
    expect(lyon.host).toBe("lyon.example.org");
    const paris = await resolveSshEndpoint("paris", { configPath: file("config") });
    expect(paris.host).toBe("10.0.0.2");
  });

  it("keeps OpenSSH's first-value-wins order across the included text", async () => {
    // Port comes before the Include: it wins over the included Port 2201.
    const lyon = await resolveSshEndpoint("lyon", { configPath: file("config") });
    expect(lyon.port).toBe(2000);
  });

  it("puts the lines after an Include back at the top level, and follows one inside a matching Host", async () => {
    const other = await resolveSshEndpoint("elsewhere", { configPath: file("config") });
    expect(other.user).toBe("top-level-after-include");
    const lyon = await resolveSshEndpoint("lyon", { configPath: file("config") });
    // The included User comes after the top-level one, so the top-level value still wins...
    expect(lyon.user).toBe("top-level-after-include");
    // ...while the rest of lyon's block still applies to lyon after its Include.
    expect(lyon.identityFiles).toEqual(["/keys/lyon"]);
  });

  it("applies an Include inside a Host block only to that host", async () => {
    await writeFile(
      file("scoped"),
      lines("Host lyon", `  Include ${file("lyon-user.conf")}`, "Host *", "  User default"),
    );
    expect((await resolveSshEndpoint("lyon", { configPath: file("scoped") })).user).toBe("from-include");
    expect((await resolveSshEndpoint("paris", { configPath: file("scoped") })).user).toBe("default");
  });

  it("reads a relative Include under ~/.ssh", async () => {
    const home = process.env.HOME;
    process.env.HOME = file("home");
    try {
      await mkdir(file("home/.ssh"), { recursive: true });
      await writeFile(file("home/.ssh/extra.conf"), lines("Host lyon", "  Port 2345"));
      await writeFile(file("relative"), lines("Include extra.conf"));
      expect((await resolveSshEndpoint("lyon", { configPath: file("relative") })).port).toBe(2345);
    } finally {
      process.env.HOME = home;
    }
  });

  it("refuses an Include loop with a clear error", async () => {
    await writeFile(file("looping"), lines("Host paris", `  Include ${file("loop.conf")}`));
    await expect(resolveSshEndpoint("paris", { configPath: file("looping") })).rejects.toMatchObject({
      exitCode: Exit.USAGE,
      message: expect.stringMatching(/Include nested more than 16 deep/),
    });
  });
});
