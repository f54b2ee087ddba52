import { describe, expect, it } from "vitest";
import { siteResult } from "../../src/transfer/remote-pull.js";
import { Exit, type NitroError } from "../../src/util/errors.js";

const failure = (run: Parameters<typeof siteResult>[1]) => {
  try {
    siteResult("lyon", run);
  } catch (err) {
    return { code: (err as NitroError).exitCode, message: (err as Error).message };
  }
  throw new Error("no failure");
};

describe("a nitro command's result at a site", () => {
  it("is its JSON document when it exited 0", () => {
    expect(siteResult("lyon", { code: 0, stdout: '{\n  "a": 1\n}\n', stderr: "" })).toEqual({ a: 1 });
    expect(failure({ code: 0, stdout: "hello", stderr: "" }).code).toBe(Exit.REMOTE);
  });

  it("carries the far exit code and message, as if the command ran here", () => {
    const notFound = failure({
      code: 3,
      stdout: '{"error":"no site knows an image \'x\'","exitCode":3}\n',
      stderr: "",
    });
    expect(notFound).toEqual({ code: Exit.NOT_FOUND, message: "lyon: no site knows an image 'x'" });
    expect(failure({ code: 9, stdout: '{"error":"host key changed","exitCode":9}\n', stderr: "" }).code).toBe(
      Exit.HOST_KEY,
    );
    // A bug there is the site's failure here; its words never carry control characters.
    const bug = failure({ code: 70, stdout: '{"error":"boom\\u001b[2J","exitCode":70}\n', stderr: "" });
    expect(bug).toEqual({ code: Exit.REMOTE, message: "lyon: boom\\x1b[2J" });
  });

  it("explains a missing nitro and a killed one", () => {
    expect(failure({ code: 127, stdout: "", stderr: "sh: nitro: not found\n" })).toEqual({
      code: Exit.REMOTE,
      message: expect.stringMatching(/cannot run nitro there .*--remote-command/),
    });
    expect(failure({ code: null, stdout: "", stderr: "" }).message).toMatch(/stopped before it finished/);
  });
});
