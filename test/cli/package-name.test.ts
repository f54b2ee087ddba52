import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");

describe("the npm package", () => {
  const pkg = JSON.parse(read("package.json")) as { name: string; bin: Record<string, string> };

  it("is not named nitro (another project holds that name) and installs the nitro command", () => {
    expect(pkg.name).not.toBe("nitro");
    expect(pkg.bin).toEqual({ nitro: "bin/nitro.js" });
  });

  it("is the one the README's install line installs", () => {
    expect(read("README.md")).toMatch(new RegExp(`^npm i -g ${pkg.name.replace(/[/@.]/g, "\\$&")}\\s`, "m"));
  });
});
