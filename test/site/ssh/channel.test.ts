import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openSshChannel } from "../../../src/site/ssh/connect.js";
import { startSshd, type SshdInstance } from "../../helpers/sshd.js";

const require = createRequire(import.meta.url);
type Exec = (...args: unknown[]) => void;

let sshd: SshdInstance;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.destroy();
});

describe("openSshChannel", () => {
  it("round-trips 10 MiB through a remote cat byte for byte", async () => {
    const ch = await openSshChannel(sshd.channel({ command: "cat" }));
    const data = randomBytes(10 * 1024 * 1024);
    const received: Buffer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      ch.stream.on("data", (b: Buffer) => received.push(b));
      ch.stream.on("end", resolve);
      ch.stream.on("error", reject);
    });
    for (let off = 0; off < data.length; off += 256 * 1024) {
      if (!ch.stream.write(data.subarray(off, off + 256 * 1024)))
        await new Promise((r) => ch.stream.once("drain", r));
    }
    ch.stream.end();
    await done;
    const back = Buffer.concat(received);
    expect(back.length).toBe(data.length);
    expect(createHash("sha256").update(back).digest("hex")).toBe(
      createHash("sha256").update(data).digest("hex"),
    );
    expect(await ch.exit).toEqual({ code: 0, signal: null });
    await ch.close();
  });

  it("connects with Nagle's algorithm off (TCP_NODELAY) on the socket ssh2 uses", async () => {
    const ch = await openSshChannel(sshd.channel({ command: "cat" }));
    // Node keeps a socket's no-delay state under this symbol and hands it to the kernel on connect.
    const noDelay = Object.getOwnPropertySymbols(ch.socket).find((k) => k.description === "kSetNoDelay");
    expect(noDelay).toBeDefined();
    expect((ch.socket as unknown as Record<symbol, unknown>)[noDelay!]).toBe(true);
    expect(ch.socket.remotePort).toBe(sshd.port);
    // The connection carries data through that very socket.
    const before = ch.socket.bytesWritten;
    ch.stream.write("ping");
    await new Promise((r) => ch.stream.once("data", r));
    expect(ch.socket.bytesWritten).toBeGreaterThan(before);
    ch.stream.end();
    ch.stream.resume();
    await ch.close();
  });

  it("says when it has dialed: before the handshake is done", async () => {
    let dialedBeforeOpen = false;
    let opened = false;
    const opening = openSshChannel({
      ...sshd.channel({ command: "cat" }),
      onDial: () => (dialedBeforeOpen = !opened),
    });
    const ch = await opening.finally(() => (opened = true));
    expect(dialedBeforeOpen).toBe(true);
    ch.stream.end();
    ch.stream.resume();
    await ch.close();
  });

  it("reports the remote exit status and stderr", async () => {
    await expectExitStatusAndStderr();
  });

  it("keeps the exit status of a command whose whole session arrives in one read", async () => {
    // The client stalls right after sending the exec request: sshd's answer, the command's output,
    // its exit status and the channel's close then reach ssh2 together and are parsed in one go,
    // before openSshChannel's caller can have listened for anything.
    const proto = (require("ssh2/lib/protocol/Protocol.js") as { prototype: { exec: Exec } }).prototype;
    const exec = proto.exec;
    const stall = vi.spyOn(proto, "exec").mockImplementation(function (this: unknown, ...args: unknown[]) {
      exec.apply(this, args);
      const until = Date.now() + 500;
      while (Date.now() < until);
    });
    try {
      await expectExitStatusAndStderr();
    } finally {
      stall.mockRestore();
    }
  });

  it("errors the stream and resolves exit without a status when the session is killed", async () => {
    const ch = await openSshChannel(sshd.channel({ command: "cat" }));
    const failed = new Promise<Error | undefined>((resolve) => {
      ch.stream.on("error", resolve);
      ch.stream.on("close", () => resolve(undefined));
    });
    ch.stream.write("x");
    await new Promise((r) => ch.stream.once("data", r));
    await sshd.killConnections();
    expect(await ch.exit).toEqual({ code: null, signal: null });
    const err = await failed;
    expect(err?.message).toMatch(/connection to .*127\.0\.0\.1.* (lost|closed)/);
    await ch.close();
  });

  it("negotiates aes128-gcm@openssh.com", async () => {
    const ch = await openSshChannel(sshd.channel({ command: "true" }));
    ch.stream.resume();
    await ch.exit;
    expect(ch.cipher).toBe("aes128-gcm@openssh.com");
    await ch.close();
  });

  it("signs with a key in its first request (no question first), and goes on to the next key when one is refused", async () => {
    // sshd says at DEBUG2 whether a publickey request is a question ("querying") or signed ("attempting").
    const talkative = await startSshd({ extraConfig: ["LogLevel DEBUG2"] });
    try {
      const stranger = await talkative.newClientKey("stranger");
      const ch = await openSshChannel(
        talkative.channel({ command: "true", identityFiles: [stranger, talkative.clientKeyPath] }),
      );
      ch.stream.resume();
      expect(await ch.exit).toEqual({ code: 0, signal: null });
      await ch.close();
      const log = await readFile(join(talkative.dir, "sshd.log"), "utf8");
      const requests = log.split("\n").filter((l) => /userauth_pubkey: .* public key /.test(l));
      expect(requests).toHaveLength(2);
      expect(requests.every((l) => / attempting public key /.test(l))).toBe(true);
      expect(log).toMatch(/Accepted publickey for /);
    } finally {
      await talkative.destroy();
    }
  });
});

/** `exit 3` after a line on stderr: both reach the caller. */
async function expectExitStatusAndStderr(): Promise<void> {
  const ch = await openSshChannel(sshd.channel({ command: "echo oops >&2; exit 3" }));
  let err = "";
  ch.stderr.on("data", (b: Buffer) => (err += b.toString()));
  ch.stream.resume();
  expect(await ch.exit).toEqual({ code: 3, signal: null });
  expect(err).toBe("oops\n");
  await ch.close();
}
