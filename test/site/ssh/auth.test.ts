import { execFile, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSshChannel } from "../../../src/site/ssh/connect.js";
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

describe("SSH authentication against a real sshd", () => {
  it("refuses a key that is not in authorized_keys with REMOTE and a clear line", async () => {
    const wrong = await sshd.newClientKey("wrong_key");
    const err = await openSshChannel(sshd.channel({ identityFiles: [wrong] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: Exit.REMOTE });
    expect((err as Error).message).toContain(
      `permission denied (publickey) for ${sshd.user}@127.0.0.1:${sshd.port}`,
    );
    expect((err as Error).message).toContain(wrong);
  });

  it("tries the next identity after a refused one", async () => {
    const wrong = await sshd.newClientKey("wrong_key2");
    expect(await execOutput(sshd.channel({ identityFiles: [wrong, sshd.clientKeyPath] }))).toBe("ok\n");
  });

  it("fails on a missing -i file instead of silently skipping it", async () => {
    const missing = join(sshd.dir, "no_such_key");
    await expect(openSshChannel(sshd.channel({ identityFiles: [missing] }))).rejects.toMatchObject({
      exitCode: Exit.NOT_FOUND,
    });
  });

  it("authenticates through ssh-agent, and explains that a passphrase key needs the agent", async () => {
    const key = join(sshd.dir, "locked_key");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "correct horse", "-f", key]);
    await sshd.authorize(await readFile(`${key}.pub`, "utf8"));

    const err = await openSshChannel(sshd.channel({ identityFiles: [key] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: Exit.REMOTE });
    expect((err as Error).message).toMatch(/passphrase-protected/);

    const sock = join(sshd.dir, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      await waitFor(
        async () =>
          (await run("ssh-add", ["-l"], { env: { SSH_AUTH_SOCK: sock } }).catch((e) => e)).code !== 2,
      );
      // ssh-add reads the passphrase from SSH_ASKPASS when there is no terminal.
      const askpass = join(sshd.dir, "askpass.sh");
      await run("sh", [
        "-c",
        `printf '#!/bin/sh\\necho "correct horse"\\n' > ${askpass} && chmod +x ${askpass}`,
      ]);
      await run("ssh-add", [key], {
        env: { SSH_AUTH_SOCK: sock, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" },
      });
      expect(await execOutput(sshd.channel({ agent: sock, identityFiles: [key] }))).toBe("ok\n");
    } finally {
      agent.kill();
    }
  });

  it("reports a closed port as connection refused", async () => {
    const err = await openSshChannel(sshd.channel({ port: 1, identityFiles: [sshd.clientKeyPath] })).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ exitCode: Exit.REMOTE });
    expect((err as Error).message).toMatch(/127\.0\.0\.1:1: connection refused/);
  });
});

async function waitFor(ready: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("ssh-agent did not start");
}
