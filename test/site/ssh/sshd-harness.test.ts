import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { NITRO_BIN, startSshd } from "../../helpers/sshd.js";

const run = promisify(execFile);

describe("test sshd harness", () => {
  it("serves OpenSSH clients through its ssh_config alias, restarts on the same port, and stops", async () => {
    const sshd = await startSshd();
    try {
      const ssh = (cmd: string) => run("ssh", ["-F", sshd.sshConfigPath, sshd.alias, cmd]);
      // The remote PATH finds this node; the repo's CLI entry is where the tests expect it.
      expect((await ssh("command -v node")).stdout.trim()).not.toBe("");
      expect(existsSync(NITRO_BIN)).toBe(true);
      await sshd.restart();
      expect((await ssh("echo again")).stdout).toBe("again\n");
      await sshd.stop();
      await expect(ssh("true")).rejects.toMatchObject({ code: 255 });
    } finally {
      await sshd.destroy();
    }
    expect(existsSync(sshd.dir)).toBe(false);
  });
});
