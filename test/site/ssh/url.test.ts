import { describe, expect, it } from "vitest";
import { formatSshUrl, parseSshUrl } from "../../../src/site/ssh/url.js";
import { Exit, NitroError } from "../../../src/util/errors.js";

describe("parseSshUrl", () => {
  it("parses host and absolute path, leaving user and port to the SSH config", () => {
    expect(parseSshUrl("ssh://lyon/srv/nitro")).toEqual({ host: "lyon", path: "/srv/nitro" });
  });

  it("parses user and port, lowercases the host and normalises the path", () => {
    expect(parseSshUrl("ssh://Bob@Host.Example:2222/srv//x/../nitro/")).toEqual({
      user: "Bob",
      host: "host.example",
      port: 2222,
      path: "/srv/nitro",
    });
  });

  it("parses bracketed IPv6 hosts", () => {
    expect(parseSshUrl("ssh://root@[::1]:2200/a")).toEqual({
      user: "root",
      host: "::1",
      port: 2200,
      path: "/a",
    });
    expect(parseSshUrl("ssh://[fe80::1]/a").host).toBe("fe80::1");
  });

  it("decodes percent-encoded paths", () => {
    expect(parseSshUrl("ssh://h/VM%20images").path).toBe("/VM images");
  });

  it.each([
    "file:///srv/x",
    "/srv/x",
    "ssh://h",
    "ssh://h/",
    "ssh://h/..",
    "ssh:///srv/x",
    "ssh://h:0/a",
    "ssh://h:70000/a",
    "ssh://u:secret@h/a",
    "ssh://h/a?x=1",
    "ssh://h/a#frag",
    "ssh://h/a%zz",
  ])("rejects %s with a usage error", (text) => {
    let err: unknown;
    try {
      parseSshUrl(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NitroError);
    expect((err as NitroError).exitCode).toBe(Exit.USAGE);
    expect((err as NitroError).message).toContain(text);
  });

  it("formats back to a URL that parses to the same value", () => {
    for (const text of ["ssh://lyon/srv/nitro", "ssh://root@[::1]:2200/a", "ssh://a%40b@h:22/VM images"]) {
      const parsed = parseSshUrl(text);
      expect(parseSshUrl(formatSshUrl(parsed))).toEqual(parsed);
    }
    expect(formatSshUrl({ host: "::1", port: 2200, user: "root", path: "/a" })).toBe(
      "ssh://root@[::1]:2200/a",
    );
  });
});
