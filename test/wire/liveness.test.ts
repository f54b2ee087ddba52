import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Exit } from "../../src/util/errors.js";
import { Liveness, siteTimeout } from "../../src/wire/liveness.js";

const MiB = 1024 * 1024;

describe("Liveness", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function watch(floor: number) {
    const events: string[] = [];
    const live = new Liveness(floor, {
      busy: () => true,
      ping: () => events.push("ping"),
      stalled: (s) => events.push(`stalled ${s}`),
    });
    return { live, events };
  }

  it("pings after a third of the floor and gives up after the floor", () => {
    const { live, events } = watch(3);
    live.sent(100);
    vi.advanceTimersByTime(1500);
    expect(events).toEqual(["ping"]);
    vi.advanceTimersByTime(1500);
    expect(events).toEqual(["ping"]);
    vi.advanceTimersByTime(700);
    expect(events).toEqual(["ping", "stalled 3"]);
    vi.advanceTimersByTime(10_000);
    expect(events).toHaveLength(2);
  });

  it("restarts the clock on every byte heard", () => {
    const { live, events } = watch(3);
    live.sent(100);
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(800);
      live.heard(10);
    }
    expect(events).toEqual([]);
  });

  it("gives bytes sent since the site last spoke their time at the measured rate, times four", () => {
    const { live, events } = watch(2);
    // 1 MiB/s measured over four busy seconds.
    for (let i = 0; i < 4; i++) {
      live.sent(MiB / 2);
      vi.advanceTimersByTime(1000);
      live.heard(MiB / 2);
    }
    expect(live.deadline()).toBe(2);
    events.length = 0;
    live.sent(2 * MiB);
    // 2 MiB at 1 MiB/s, four times over.
    expect(live.deadline()).toBeCloseTo(8, 6);
    vi.advanceTimersByTime(7500);
    expect(events).toEqual(["ping"]);
    // The quiet time does not count as time spent moving bytes: the deadline stays.
    expect(live.deadline()).toBeCloseTo(8, 6);
    vi.advanceTimersByTime(1000);
    expect(events).toHaveLength(2);
    expect(events[1]).toMatch(/^stalled 7\.99/);
  });

  it("never waits longer than twenty floors", () => {
    const { live } = watch(1);
    live.sent(2 * MiB);
    vi.advanceTimersByTime(1000);
    live.heard(10);
    live.sent(1024 * MiB);
    expect(live.deadline()).toBe(20);
  });
});

describe("siteTimeout", () => {
  it("reads NITRO_SITE_TIMEOUT, 15 s when unset", () => {
    expect(siteTimeout({})).toBe(15);
    expect(siteTimeout({ NITRO_SITE_TIMEOUT: "2.5" })).toBe(2.5);
  });

  it("refuses a value that is not a positive number", () => {
    for (const bad of ["0", "-3", "soon", "Infinity"])
      expect(() => siteTimeout({ NITRO_SITE_TIMEOUT: bad })).toThrow(
        expect.objectContaining({
          exitCode: Exit.USAGE,
          message: `NITRO_SITE_TIMEOUT must be a positive number of seconds, not '${bad}'`,
        }),
      );
  });
});
