import { readFileSync } from "node:fs";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSshChannel } from "../../../src/site/ssh/connect.js";
import { keepaliveRoundTrip } from "../../../src/site/ssh/keepalive.js";
import { Exit } from "../../../src/util/errors.js";
import { startSshd, type SshdInstance } from "../../helpers/sshd.js";

let sshd: SshdInstance;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.destroy();
});

/** A bare ssh2 connection to the test sshd; host key not checked (this tests keepalives only). */
async function bareClient(opts: { keepaliveInterval?: number; keepaliveCountMax?: number } = {}) {
  const client = new ssh2.Client();
  const errors: Error[] = [];
  await new Promise<void>((resolve, reject) => {
    client.once("ready", resolve);
    client.once("error", reject);
    client.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey: readFileSync(sshd.clientKeyPath),
      ...opts,
    });
    client.setNoDelay(true);
  });
  client.on("error", (e) => errors.push(e));
  return { client, errors };
}

describe("keepaliveRoundTrip", () => {
  it("is answered by sshd itself: the remote command never reads nor writes", async () => {
    const ch = await openSshChannel(sshd.channel({ command: "sleep 30" }));
    // Closing the connection under the running command errors its stream: expected here.
    ch.stream.on("error", () => undefined);
    expect(ch.roundTrip).toBeDefined();
    await Promise.all(Array.from({ length: 5 }, () => ch.roundTrip!()));
    const t0 = performance.now();
    await ch.roundTrip!();
    expect(performance.now() - t0).toBeLessThan(1000);
    await ch.close(false);
  });

  it("leaves ssh2 the replies to its own keepalives: none of them goes missing", async () => {
    // ssh2 gives up on a connection whose keepalive is not answered within 50 ms here.
    const { client, errors } = await bareClient({ keepaliveInterval: 50, keepaliveCountMax: 1 });
    const roundTrip = keepaliveRoundTrip(client, "test")!;
    const until = performance.now() + 800;
    let ours = 0;
    while (performance.now() < until) {
      await Promise.all([roundTrip(), roundTrip()]);
      ours += 2;
      await new Promise((r) => setTimeout(r, 3));
    }
    expect(ours).toBeGreaterThan(20);
    expect(errors).toEqual([]);
    client.end();
  });

  it("fails what is in flight, and what is asked after, once the connection is gone", async () => {
    const { client } = await bareClient();
    const roundTrip = keepaliveRoundTrip(client, "test")!;
    const inFlight = roundTrip();
    client.destroy();
    await expect(inFlight).rejects.toMatchObject({ exitCode: Exit.REMOTE });
    await expect(roundTrip()).rejects.toMatchObject({
      exitCode: Exit.REMOTE,
      message: expect.stringMatching(/closed/),
    });
  });
});
