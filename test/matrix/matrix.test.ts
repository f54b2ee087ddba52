import { describe, expect, it } from "vitest";
import { Matrix } from "../../src/matrix/matrix.js";

const now = "2026-01-01T00:00:00.000Z";

describe("bandwidth/cost matrix", () => {
  it("keeps links directed and merges updates field by field", () => {
    const m = new Matrix();
    m.set({ from: "lyon", to: "paris", bandwidth: 1e7, cost: 0.02, updated: now, origin: "manual" });
    m.set({ from: "paris", to: "lyon", bandwidth: 5e6, updated: now, origin: "manual" });
    m.set({ from: "lyon", to: "paris", bandwidth: 2e7, rtt: 0.01, updated: now, origin: "probe" });
    expect(m.get("lyon", "paris")).toMatchObject({ bandwidth: 2e7, rtt: 0.01, cost: 0.02, origin: "probe" });
    expect(m.get("paris", "lyon")?.bandwidth).toBe(5e6);
    expect(m.links).toHaveLength(2);
  });

  it("round-trips through CSV and JSON", () => {
    const m = new Matrix();
    m.set({ from: "a", to: "b", bandwidth: 123456.5, rtt: 0.08, cost: 0.09, updated: now, origin: "manual" });
    m.set({ from: "b", to: "a", bandwidth: 42, updated: now, origin: "probe" });
    expect(Matrix.fromCsv(m.toCsv()).links).toEqual(m.links);
    expect(Matrix.fromJson(m.toJson()).links).toEqual(m.links);
  });

  it("rejects malformed input with a usage error naming the line", () => {
    expect(() => Matrix.fromCsv("nope\n")).toThrow(/header/);
    const bad = new Matrix().toCsv() + "a,b,-5,,,,\n";
    expect(() => Matrix.fromCsv(bad)).toThrow(/line 2: bandwidth/);
    expect(() => Matrix.fromJson('{"links":[{"from":"a"}]}')).toThrow(/from and to/);
  });
});

describe("non-finite numbers never enter the matrix", () => {
  const header = new Matrix().toCsv();

  it.each([
    ["CSV bandwidth 1e999", () => Matrix.fromCsv(header + "a,b,1e999,,,,\n"), /line 2: bandwidth/],
    ["CSV cost Infinity", () => Matrix.fromCsv(header + "a,b,100,,Infinity,,\n"), /line 2: cost/],
    ["CSV rtt NaN", () => Matrix.fromCsv(header + "a,b,100,abc,,,\n"), /line 2: rtt/],
    [
      "JSON bandwidth 1e999",
      () => Matrix.fromJson('{"links":[{"from":"a","to":"b","bandwidth":1e999}]}'),
      /link 1: bandwidth/,
    ],
    [
      "JSON cost null",
      () => Matrix.fromJson('{"links":[{"from":"a","to":"b","bandwidth":1,"cost":null}]}'),
      /link 1: cost/,
    ],
    [
      "JSON rtt 1e999",
      () => Matrix.fromJson('{"links":[{"from":"a","to":"b","bandwidth":1,"rtt":1e999}]}'),
      /link 1: rtt/,
    ],
  ])("%s is refused", (_what, load, message) => {
    expect(load).toThrow(message);
  });
});
