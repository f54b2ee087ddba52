import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPolicy, matchesPattern, policyJobs } from "../../src/transfer/replicate-policy.js";
import { Exit, NitroError } from "../../src/util/errors.js";
import { tempDir } from "../helpers/data.js";

const t = tempDir();
afterAll(t.cleanup);
let n = 0;
const policyFile = (text: string) => {
  const path = join(t.dir, `policy-${++n}.json`);
  writeFileSync(path, text);
  return path;
};
const exitOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return [(err as NitroError).exitCode, (err as Error).message] as const;
  }
  return undefined;
};

describe("replication policy", () => {
  it("matches names with * and ?, nothing else special", () => {
    expect(matchesPattern("debian-*", "debian-12-lamp")).toBe(true);
    expect(matchesPattern("debian-*", "ubuntu-24")).toBe(false);
    expect(matchesPattern("alpine-3.2?", "alpine-3.20")).toBe(true);
    expect(matchesPattern("alpine-3.2?", "alpine-3x20")).toBe(false);
    expect(matchesPattern("a.b", "aXb")).toBe(false);
  });

  it("turns rules into jobs over the known images and sites", () => {
    const rules = loadPolicy(
      policyFile(
        JSON.stringify({
          rules: [
            { images: "debian-*", sites: ["lyon", "paris"] },
            { images: "*", sites: "all", minCopies: 2 },
          ],
        }),
      ),
    );
    const jobs = policyJobs(rules, ["alpine", "debian-12"], ["lyon", "paris", "tokyo"]);
    expect(jobs).toEqual([
      { image: "debian-12", sites: ["lyon", "paris"] },
      { image: "alpine", sites: ["lyon", "paris", "tokyo"], minCopies: 2 },
      { image: "debian-12", sites: ["lyon", "paris", "tokyo"], minCopies: 2 },
    ]);
  });

  it("refuses a malformed file with a usage error naming the rule", () => {
    expect(exitOf(() => loadPolicy(policyFile("{")))).toEqual([
      Exit.USAGE,
      expect.stringMatching(/not valid JSON/),
    ]);
    expect(exitOf(() => loadPolicy(policyFile('{"rules": []}')))?.[0]).toBe(Exit.USAGE);
    const bad = exitOf(() =>
      loadPolicy(
        policyFile(
          JSON.stringify({
            rules: [
              { images: "*", sites: "all" },
              { images: "*", sites: 3 },
            ],
          }),
        ),
      ),
    );
    expect(bad).toEqual([Exit.USAGE, expect.stringMatching(/rule 2: "sites"/)]);
    const copies = exitOf(() =>
      loadPolicy(policyFile(JSON.stringify({ rules: [{ images: "*", sites: "all", minCopies: 0 }] }))),
    );
    expect(copies).toEqual([Exit.USAGE, expect.stringMatching(/minCopies/)]);
    expect(exitOf(() => loadPolicy(join(t.dir, "none.json")))?.[0]).toBe(Exit.NOT_FOUND);
  });
});
