import { describe, expect, it } from "vitest";
import { Wakeup } from "../../src/util/wakeup.js";

describe("Wakeup", () => {
  it("resolves a wait at the next notify, and drops a notify nobody waits for", async () => {
    const w = new Wakeup();
    w.notify(); // dropped
    let woken = false;
    const waiting = w.wait().then(() => (woken = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(woken).toBe(false);
    w.notify();
    await waiting;
    expect(woken).toBe(true);
  });
});
