import { describe, expect, it } from "vitest";
import { isTransient, withRetry } from "../../../src/site/s3/retry.js";
import { Exit, notFound } from "../../../src/util/errors.js";

const policy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 250 };
const sdkError = (name: string, status?: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

/** An operation that fails with each of `failures` in turn, then returns "done". */
function scripted(failures: unknown[]) {
  let calls = 0;
  return {
    op: async () => {
      const f = failures[calls++];
      if (f !== undefined) throw f;
      return "done";
    },
    calls: () => calls,
  };
}

describe("withRetry", () => {
  it("retries 5xx, throttling and resets with growing, capped pauses, then succeeds", async () => {
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    const s = scripted([sdkError("InternalError", 500), sdkError("SlowDown", 503), reset]);
    const pauses: number[] = [];
    await expect(withRetry("get x", s.op, policy, async (ms) => void pauses.push(ms))).resolves.toBe("done");
    expect(s.calls()).toBe(4);
    expect(pauses.length).toBe(3);
    // Full jitter within [cap/2, cap]: caps 100, 200, 250.
    [100, 200, 250].forEach((cap, i) => {
      expect(pauses[i]).toBeGreaterThanOrEqual(cap / 2);
      expect(pauses[i]).toBeLessThanOrEqual(cap);
    });
  });

  it("gives up after the last attempt with REMOTE, naming the operation and the attempts", async () => {
    const s = scripted(Array.from({ length: 10 }, () => sdkError("ServiceUnavailable", 503)));
    await expect(
      withRetry("site 'oslo': put packs/p", s.op, policy, async () => undefined),
    ).rejects.toMatchObject({
      exitCode: Exit.REMOTE,
      message: expect.stringMatching(/site 'oslo': put packs\/p: ServiceUnavailable.*after 4 attempts/),
    });
    expect(s.calls()).toBe(4);
  });

  it("does not retry permanent failures", async () => {
    for (const [err, code] of [
      [sdkError("AccessDenied", 403), Exit.REMOTE],
      [sdkError("NoSuchBucket", 404), Exit.NOT_FOUND],
      [notFound("chunk x is not at site 'oslo'"), Exit.NOT_FOUND],
    ] as const) {
      const s = scripted([err]);
      await expect(withRetry("op", s.op, policy, async () => undefined)).rejects.toMatchObject({
        exitCode: code,
      });
      expect(s.calls()).toBe(1);
    }
  });

  it("classifies errors", () => {
    expect(isTransient(sdkError("Whatever", 502))).toBe(true);
    expect(isTransient(sdkError("TooManyRequestsException", 429))).toBe(true);
    expect(isTransient(new Error("socket hang up"))).toBe(true);
    expect(isTransient(sdkError("NoSuchKey", 404))).toBe(false);
    expect(isTransient(sdkError("InvalidAccessKeyId", 403))).toBe(false);
  });
});
