import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { openWriteSite } from "../../src/site/open.js";
import { tempDir } from "../helpers/data.js";
import { requireBuild } from "../helpers/e2e.js";
import { newStore } from "../helpers/sites.js";
import { REMOTE_NITRO, startSshd, type SshdInstance } from "../helpers/sshd.js";
import { describeSiteConformance } from "./conformance.js";

requireBuild();
const t = tempDir("nitro-conf-ssh-");
let sshd: SshdInstance;
let repos = 0;

beforeAll(async () => {
  sshd = await startSshd();
});

afterAll(async () => {
  await sshd?.destroy();
  t.cleanup();
});

describeSiteConformance(
  "SSH site over real sshd",
  async () => {
    const repo = join(t.dir, `paris-${++repos}`);
    await newStore(t.dir, `paris-${repos}`).close();
    const site = await openWriteSite(
      { name: "paris", url: sshd.url(repo), remoteCommand: REMOTE_NITRO, identity: sshd.clientKeyPath },
      { knownHostsPath: sshd.knownHostsPath, sshConfigPath: "/dev/null" },
    );
    return { site, cleanup: async () => undefined };
  },
  {
    cuts: {
      "the far nitro process killed": async () => {
        expect(await sshd.killCommands(/ serve --stdio /)).toBe(1);
      },
      "the sshd session killed": () => sshd.killConnections(),
      "sshd stopped (and started again for the next test)": () => sshd.restart(),
    },
  },
);
