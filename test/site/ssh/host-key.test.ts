import { execFile } from "node:child_process";
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSshChannel, type SshChannelOptions } from "../../../src/site/ssh/connect.js";
import { Exit } from "../../../src/util/errors.js";
import { execOutput, startSshd, type SshdInstance } from "../../helpers/sshd.js";

const run = promisify(execFile);
let sshd: SshdInstance;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.destroy();
});

const direct = (knownHostsPath: string, extra: Partial<SshChannelOptions> = {}): SshChannelOptions =>
  sshd.channel({ knownHostsPath, ...extra });

describe("host key verification against a real sshd", () => {
  it("accepts the known key, through the ssh_config alias and its UserKnownHostsFile", async () => {
    expect(
      await execOutput({
        host: sshd.alias,
        configPath: sshd.sshConfigPath,
        command: "echo ok",
        agent: false,
      }),
    ).toBe("ok\n");
  });

  it("accepts a hashed known_hosts entry", async () => {
    const file = join(sshd.dir, "known_hosts.hashed");
    await copyFile(sshd.knownHostsPath, file);
    await run("ssh-keygen", ["-q", "-H", "-f", file]);
    expect(await readFile(file, "utf8")).not.toContain("127.0.0.1");
    expect(await execOutput(direct(file))).toBe("ok\n");
  });

  it("refuses an unknown host with HOST_KEY and a hint", async () => {
    const file = join(sshd.dir, "known_hosts.empty");
    await writeFile(file, "");
    const err = await openSshChannel(direct(file)).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: Exit.HOST_KEY });
    expect((err as Error).message).toMatch(
      new RegExp(`\\[127\\.0\\.0\\.1\\]:${sshd.port} is unknown.*--accept-new`),
    );
  });

  it("refuses a changed key loudly, even with accept-new, and keeps the file as it was", async () => {
    const other = await sshd.newClientKey("other_host_key");
    const otherPub = (await readFile(`${other}.pub`, "utf8")).split(" ").slice(0, 2).join(" ");
    const file = join(sshd.dir, "known_hosts.changed");
    const text = `[127.0.0.1]:${sshd.port} ${otherPub}\n`;
    await writeFile(file, text);
    for (const acceptNew of [false, true]) {
      const err = await openSshChannel(direct(file, { acceptNew })).catch((e: unknown) => e);
      expect(err).toMatchObject({ exitCode: Exit.HOST_KEY });
      expect((err as Error).message).toMatch(/HAS CHANGED.*man-in-the-middle/);
    }
    expect(await readFile(file, "utf8")).toBe(text);
  });

  it("accept-new records an unknown key, after which it is known", async () => {
    const file = join(sshd.dir, "known_hosts.tofu");
    expect(await execOutput(direct(file, { acceptNew: true }))).toBe("ok\n");
    const hostPub = (await readFile(`${sshd.hostKeyPath}.pub`, "utf8")).split(" ").slice(0, 2).join(" ");
    expect(await readFile(file, "utf8")).toBe(`[127.0.0.1]:${sshd.port} ${hostPub}\n`);
    expect(await execOutput(direct(file))).toBe("ok\n");
  });

  it("accept-new makes the known_hosts directory private (0700), and says why it cannot", async () => {
    const file = join(sshd.dir, "new-home", ".ssh", "known_hosts");
    expect(await execOutput(direct(file, { acceptNew: true }))).toBe("ok\n");
    expect(statSync(join(sshd.dir, "new-home", ".ssh")).mode & 0o777).toBe(0o700);

    const ro = join(sshd.dir, "ro-home");
    await mkdir(ro);
    execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro]);
    try {
      const err = await openSshChannel(direct(join(ro, ".ssh", "known_hosts"), { acceptNew: true })).catch(
        (e: unknown) => e,
      );
      expect((err as Error).message).toMatch(/cannot add the host key of .*: read-only file system/);
    } finally {
      execFileSync("umount", [ro]);
    }
  });
});
