import { execFileSync, spawn } from "node:child_process";
import { open } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NITRO_BIN } from "../helpers/cli.js";
import { tempDir } from "../helpers/data.js";
import { newStore } from "../helpers/sites.js";

const { fcntlSync } = createRequire(import.meta.url)("fs-ext") as {
  fcntlSync(fd: number, cmd: number, arg?: number): number;
};
const F_GETPIPE_SZ = 1032;

describe("nitro serve --stdio", () => {
  const t = tempDir();
  afterAll(t.cleanup);

  it("grows its stdin and stdout pipes to 1 MiB so that sshd can run ahead of the store", async () => {
    await newStore(t.dir, "lyon").close();
    // Real pipes, as sshd gives its command (node's own child stdio would be socket pairs).
    const [inPath, outPath] = [join(t.dir, "in"), join(t.dir, "out")];
    execFileSync("mkfifo", [inPath, outPath]);
    const q = (s: string) => `'${s}'`;
    const cmd = `exec ${q(process.execPath)} ${q(NITRO_BIN)} serve --stdio --repo ${q(join(t.dir, "lyon"))}`;
    const child = spawn("sh", ["-c", `${cmd} <${q(inPath)} >${q(outPath)}`], { stdio: "inherit" });
    const stdin = await open(inPath, "w");
    const stdout = await open(outPath, "r");
    expect(fcntlSync(stdin.fd, F_GETPIPE_SZ)).toBe(64 * 1024);
    // The server speaks first (HELLO), once it is set up.
    await stdout.read(Buffer.alloc(64), 0, 64);
    expect(fcntlSync(stdin.fd, F_GETPIPE_SZ)).toBe(1024 * 1024);
    expect(fcntlSync(stdout.fd, F_GETPIPE_SZ)).toBe(1024 * 1024);
    await stdin.close();
    await new Promise((resolve) => child.on("exit", resolve));
    await stdout.close();
  });
});
