import { randomBytes } from "node:crypto";
import type { ProbeResult } from "../site.js";
import type { Bucket } from "./bucket.js";
import { PROBE_KEY, PROBE_OBJECT_BYTES, SITE_CONFIG_KEY } from "./layout.js";
import { mapLimit } from "./parallel.js";

const SLICE_BYTES = 1024 * 1024;
const SLICES_IN_FLIGHT = 4;

/**
 * Times a small request (the round trip) and downloads about `bytes` from the site, as ranged
 * GETs of one random probe object, several in flight as reads of packs are. The probe object is
 * written once, by the first probe of the site.
 */
export async function probeBucket(bucket: Bucket, bytes: number): Promise<ProbeResult> {
  const t0 = performance.now();
  await bucket.exists(SITE_CONFIG_KEY);
  const rtt = (performance.now() - t0) / 1000;
  if (!(await bucket.exists(PROBE_KEY))) await bucket.put(PROBE_KEY, randomBytes(PROBE_OBJECT_BYTES));
  const slices: Array<{ start: number; length: number }> = [];
  for (let done = 0; done < bytes; done += SLICE_BYTES) {
    const start = done % PROBE_OBJECT_BYTES;
    slices.push({ start, length: Math.min(SLICE_BYTES, bytes - done, PROBE_OBJECT_BYTES - start) });
  }
  const t1 = performance.now();
  const got = await mapLimit(slices, SLICES_IN_FLIGHT, (s) => bucket.getRange(PROBE_KEY, s.start, s.length));
  const seconds = Math.max((performance.now() - t1) / 1000, 1e-6);
  return { bytes: got.reduce((s, b) => s + b.length, 0), seconds, rtt };
}
