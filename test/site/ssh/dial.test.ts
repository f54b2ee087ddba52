import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSshChannel } from "../../../src/site/ssh/connect.js";
import { dial } from "../../../src/site/ssh/dial.js";
import { Exit } from "../../../src/util/errors.js";
import { execOutput, startSshd, type SshdInstance } from "../../helpers/sshd.js";

let sshd: SshdInstance;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.destroy();
});

describe("a connection dialed before ssh2 is loaded", () => {
  it("carries the session once openSshChannel takes it", async () => {
    const opts = sshd.channel();
    const dialed = await dial(opts);
    expect(dialed.endpoint).toMatchObject({ host: "127.0.0.1", port: sshd.port });
    expect(await execOutput({ ...opts, dialed })).toBe("ok\n");
  });

  it("reports a closed port as connection refused, as without it", async () => {
    const opts = sshd.channel({ port: 1 });
    const dialed = await dial(opts);
    const err = await openSshChannel({ ...opts, dialed }).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: Exit.REMOTE });
    expect((err as Error).message).toMatch(/127\.0\.0\.1:1: connection refused/);
  });

  it("fails at once when the far end closes before ssh2 takes the socket (no wait for the timeout)", async () => {
    const closing: Server = createServer((s) => s.destroy());
    await new Promise<void>((r) => closing.listen(0, "127.0.0.1", r));
    try {
      const port = (closing.address() as { port: number }).port;
      const opts = sshd.channel({ port, readyTimeoutMs: 120_000 });
      const dialed = await dial(opts);
      await new Promise((r) => dialed.socket.once("close", r));
      // Missed, the close would leave ssh2 waiting for its 120 s timeout, past this test's limit.
      const err = await openSshChannel({ ...opts, dialed }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/connection reset during the SSH handshake/);
    } finally {
      closing.close();
    }
  });

  it("is closed when openSshChannel fails before handing it to ssh2", async () => {
    const opts = sshd.channel({ identityFiles: [join(sshd.dir, "no_such_key")] });
    const dialed = await dial(opts);
    await expect(openSshChannel({ ...opts, dialed })).rejects.toMatchObject({ exitCode: Exit.NOT_FOUND });
    expect(dialed.socket.destroyed).toBe(true);
  });
});
