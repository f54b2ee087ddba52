import { describe, expect, it } from "vitest";
import { checkSshCryptoBinding } from "../../../src/site/ssh/connect.js";

describe("checkSshCryptoBinding", () => {
  it("finds ssh2's native crypto binding loaded, without warning", () => {
    const warnings: string[] = [];
    expect(checkSshCryptoBinding((m) => warnings.push(m))).toBe(true);
    expect(warnings).toEqual([]);
  });
});
