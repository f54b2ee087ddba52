import { describe, expect, it } from "vitest";
import { toForest } from "../../src/plan/forest.js";
import { rng } from "./helpers.js";

describe("flow to forest", () => {
  it("keeps every group's and site's bytes and leaves no cycle", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const groups = 1 + Math.floor(r() * 40);
      const sites = 2 + Math.floor(r() * 8);
      const eg: number[] = [];
      const es: number[] = [];
      const ef: number[] = [];
      for (let g = 0; g < groups; g++)
        for (let s = 0; s < sites; s++)
          if (r() < 0.5) {
            eg.push(g);
            es.push(s);
            ef.push(r() < 0.2 ? 1 + Math.floor(r() * 3) : r() * 1000); // integer ties too
          }
      const byGroup = sums(eg, ef, groups);
      const bySite = sums(es, ef, sites);
      const f = toForest(groups, sites, Int32Array.from(eg), Uint8Array.from(es), Float64Array.from(ef));

      const fg: number[] = [];
      for (let g = 0; g < groups; g++) for (let k = f.first[g]!; k < f.first[g + 1]!; k++) fg.push(g);
      const after = { group: sums(fg, [...f.bytes], groups), site: sums([...f.site], [...f.bytes], sites) };
      after.group.forEach((v, g) => expect(v).toBeCloseTo(byGroup[g]!, 6));
      after.site.forEach((v, s) => expect(v).toBeCloseTo(bySite[s]!, 6));
      f.bytes.forEach((b) => expect(b).toBeGreaterThan(0));
      expect(
        isForest(
          groups + sites,
          fg,
          [...f.site].map((s) => groups + s),
        ),
      ).toBe(true);
    }
  });
});

function sums(keys: number[], values: number[], n: number): number[] {
  const out = new Array<number>(n).fill(0);
  keys.forEach((k, i) => (out[k]! += values[i]!));
  return out;
}

/** Union-find: an edge joining two nodes already connected closes a cycle. */
function isForest(nodes: number, a: number[], b: number[]): boolean {
  const parent = Array.from({ length: nodes }, (_, v) => v);
  const find = (v: number): number => (parent[v] === v ? v : (parent[v] = find(parent[v]!)));
  return a.every((u, i) => {
    const [x, y] = [find(u), find(b[i]!)];
    if (x === y) return false;
    parent[x] = y;
    return true;
  });
}
