import { afterAll, describe, expect, it } from "vitest";
import { Matrix } from "../../src/matrix/matrix.js";
import { SiteRegistry } from "../../src/site/registry.js";
import { applySync, syncPayload } from "../../src/transfer/replicate-sync.js";
import { Exit, type NitroError } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";

const t = tempDir();
afterAll(t.cleanup);
const link = (from: string, to: string, bandwidth: number) => ({
  from,
  to,
  bandwidth,
  updated: "2026-12-02T00:00:00Z",
  origin: "manual" as const,
});

describe("site sync", () => {
  it("copies sites and links, never an identity file; a site keeps its own", () => {
    const payload = syncPayload(
      [
        { name: "lyon", url: "ssh://lyon/srv/nitro", egressCost: 0.02, identity: "/root/.ssh/admin-key" },
        { name: "paris", url: "ssh://paris/srv/nitro", remoteCommand: "/opt/nitro/bin/nitro" },
      ],
      new Matrix([link("lyon", "paris", 1e8)]),
    );
    expect(JSON.stringify(payload)).not.toContain("admin-key");

    const at = new SiteRegistry(t.dir);
    at.add({ name: "lyon", url: "ssh://old/srv/nitro", identity: "/home/paris/.ssh/own-key" });
    new Matrix([link("paris", "lyon", 5e7)]).save(t.dir);
    expect(applySync(t.dir, "paris", JSON.stringify(payload))).toEqual({ site: "paris", sites: 2, links: 1 });
    expect(at.get("lyon")).toEqual({
      name: "lyon",
      url: "ssh://lyon/srv/nitro",
      egressCost: 0.02,
      identity: "/home/paris/.ssh/own-key",
    });
    expect(at.get("paris").remoteCommand).toBe("/opt/nitro/bin/nitro");
    const m = Matrix.load(t.dir);
    expect(m.get("lyon", "paris")?.bandwidth).toBe(1e8);
    expect(m.get("paris", "lyon")?.bandwidth).toBe(5e7);
  });

  it("refuses a payload that is not one (usage error)", () => {
    for (const bad of ["{", "{}", '{"sites": 3, "links": []}']) {
      let code: number | undefined;
      try {
        applySync(t.dir, "paris", bad);
      } catch (err) {
        code = (err as NitroError).exitCode;
      }
      expect(code, bad).toBe(Exit.USAGE);
    }
  });
});
