import { describe, expect, it } from "vitest";
import { kindOf, validateSiteConfig } from "../../src/site/kinds.js";
import { Exit } from "../../src/util/errors.js";

const usageError = (message: RegExp) =>
  expect.objectContaining({ exitCode: Exit.USAGE, message: expect.stringMatching(message) });

describe("site kinds keyed by URL scheme", () => {
  it.each([
    ["/srv/nitro", "local"],
    ["file:///srv/nitro", "local"],
    ["ssh://nitro@lyon.example.org/srv/nitro", "ssh"],
    ["SSH://lyon:2222/srv/nitro", "ssh"],
    ["s3://nitro-images/oslo", "s3"],
  ])("%s is a %s site", (url, kind) => {
    expect(kindOf(url).name).toBe(kind);
    expect(validateSiteConfig({ name: "x", url }).name).toBe(kind);
  });

  it("refuses an unknown scheme (exit 2), listing the known ones", () => {
    expect(() => kindOf("gs://bucket/images")).toThrow(
      usageError(
        /unknown site URL scheme 'gs'.*file:\/\/\/abs\/path \(local\).*ssh:\/\/\[user@\]host\[:port\]\/path \(ssh\).*s3:\/\/BUCKET\[\/PREFIX\] \(s3\)/,
      ),
    );
  });

  it("refuses a relative path and a malformed URL of a known kind", () => {
    expect(() => kindOf("srv/nitro")).toThrow(usageError(/must be one of/));
    expect(() => validateSiteConfig({ name: "x", url: "file://srv/nitro" })).toThrow(
      usageError(/local site URL/),
    );
    expect(() => validateSiteConfig({ name: "x", url: "ssh://host" })).toThrow(
      usageError(/missing absolute path/),
    );
  });

  it("takes each kind's own options and refuses another kind's", () => {
    expect(() => validateSiteConfig({ name: "x", url: "/srv/n", simulateRate: 1e6 })).not.toThrow();
    expect(() =>
      validateSiteConfig({ name: "x", url: "ssh://h/srv/n", remoteCommand: "/opt/nitro", identity: "/k" }),
    ).not.toThrow();
    expect(() => validateSiteConfig({ name: "x", url: "ssh://h/srv/n", simulateRate: 1e6 })).toThrow(
      usageError(/--simulate-rate is not an option of ssh sites/),
    );
    expect(() => validateSiteConfig({ name: "x", url: "/srv/n", identity: "/k" })).toThrow(
      usageError(/--identity is not an option of local sites/),
    );
    expect(() =>
      validateSiteConfig({
        name: "x",
        url: "s3://b-1/p",
        endpoint: "http://h:8080",
        region: "r",
        pathStyle: true,
      }),
    ).not.toThrow();
    expect(() => validateSiteConfig({ name: "x", url: "ssh://h/srv/n", endpoint: "http://h" })).toThrow(
      usageError(/--endpoint is not an option of ssh sites/),
    );
  });
});
