import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { openWriteSite } from "../../src/site/open.js";
import { requireMaintainSite } from "../../src/site/site.js";
import { tempDir } from "../helpers/data.js";
import { requireBuild } from "../helpers/e2e.js";
import { startSocketServer, type SocketServer } from "../helpers/serve-socket.js";
import { newStore } from "../helpers/sites.js";
import { startSshd, type SshdInstance } from "../helpers/sshd.js";
import { describeSiteConformance } from "./conformance.js";

requireBuild();
const t = tempDir("nitro-conf-sock-");
let sshd: SshdInstance;
let server: SocketServer | undefined;
let repos = 0;

beforeAll(async () => {
  sshd = await startSshd();
});

afterAll(async () => {
  await server?.kill("SIGKILL");
  await sshd?.destroy();
  t.cleanup();
});

// The site's remote command does not exist at the far host: every session has to go through the
// running server's socket, none may fall back to `nitro serve --stdio`.
describeSiteConformance(
  "SSH site through a running nitro serve --socket",
  async () => {
    const repo = join(t.dir, `lyon-${++repos}`);
    await newStore(t.dir, `lyon-${repos}`).close();
    await server?.kill("SIGKILL");
    server = await startSocketServer(repo);
    const site = requireMaintainSite(
      await openWriteSite(
        {
          name: "lyon",
          url: sshd.url(repo),
          remoteCommand: "/nonexistent/nitro",
          identity: sshd.clientKeyPath,
        },
        { knownHostsPath: sshd.knownHostsPath, sshConfigPath: "/dev/null" },
      ),
    );
    return { site, cleanup: async () => undefined };
  },
  {
    cuts: {
      "the serving process killed": async () => {
        expect((await server!.kill("SIGKILL")).code).toBe(null);
      },
      "the sshd session killed": () => sshd.killConnections(),
    },
  },
);
