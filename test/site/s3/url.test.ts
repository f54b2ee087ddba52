import { describe, expect, it } from "vitest";
import { parseS3Url } from "../../../src/site/s3/url.js";
import { Exit } from "../../../src/util/errors.js";

describe("parseS3Url", () => {
  it("takes a bucket and an optional prefix, normalised to end in '/'", () => {
    expect(parseS3Url("s3://images")).toEqual({ bucket: "images", prefix: "" });
    expect(parseS3Url("s3://images/")).toEqual({ bucket: "images", prefix: "" });
    expect(parseS3Url("s3://my.images-1/sites/oslo")).toEqual({
      bucket: "my.images-1",
      prefix: "sites/oslo/",
    });
    expect(parseS3Url("s3://images/sites/oslo/")).toEqual({ bucket: "images", prefix: "sites/oslo/" });
  });

  it.each([
    "s3://",
    "s3:///prefix",
    "s3://UpperCase",
    "s3://ab",
    "s3://bad..bucket",
    "s3://images/a//b",
    "s3://images/../other",
    "s3://images/sp ace",
    "http://images/x",
  ])("refuses %s with a usage error", (url) => {
    expect(() => parseS3Url(url)).toThrow(expect.objectContaining({ exitCode: Exit.USAGE }));
  });
});
