import { describe, expect, it } from "vitest";
import { Exit } from "../../src/util/errors.js";
import { localExitCode, quoteRemoteText } from "../../src/wire/remote-error.js";

describe("quoteRemoteText", () => {
  it("escapes controls, DEL, C1, line separators and bidi overrides; keeps other text", () => {
    expect(quoteRemoteText("a\tb\0c\x7fd\x9be\u2028f\u2067g")).toBe(
      "a\\tb\\x00c\\x7fd\\x9be\\u2028f\\u2067g",
    );
    expect(quoteRemoteText("image 'débian-12.raw' not found ✓")).toBe("image 'débian-12.raw' not found ✓");
  });
});

describe("localExitCode", () => {
  it("keeps the codes that cross the wire and makes any other REMOTE", () => {
    expect(localExitCode(Exit.EXISTS)).toBe(Exit.EXISTS);
    expect(localExitCode(Exit.INCOMPLETE)).toBe(Exit.INCOMPLETE);
    expect(localExitCode(Exit.INTERNAL)).toBe(Exit.REMOTE);
    expect(localExitCode(Exit.HOST_KEY)).toBe(Exit.REMOTE);
    expect(localExitCode(99)).toBe(Exit.REMOTE);
  });
});
