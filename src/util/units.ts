import { usage } from "./errors.js";

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** "64K" -> 65536, "1.5GiB" -> ..., "100MB" -> 1e8. Bare K/M/G are binary, as in dd and borg. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const mult = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && mult !== undefined ? Math.round(Number(m[1]) * mult) : NaN;
  if (!Number.isSafeInteger(bytes)) throw usage(`invalid size '${text}' (examples: 65536, 64K, 1.5G, 100MB)`);
  return bytes;
}

const RATE_UNITS: Record<string, number> = {
  bit: 1 / 8,
  kbit: 1e3 / 8,
  mbit: 1e6 / 8,
  gbit: 1e9 / 8,
  bps: 1 / 8,
  kbps: 1e3 / 8,
  mbps: 1e6 / 8,
  gbps: 1e9 / 8,
  "b/s": 1,
  "kb/s": 1e3,
  "mb/s": 1e6,
  "gb/s": 1e9,
  "kib/s": 1024,
  "mib/s": 1024 ** 2,
  "gib/s": 1024 ** 3,
};

/** Bandwidth in bytes per second: "100Mbit" (tc style), "12.5MB/s", "1Gbit". */
export function parseBandwidth(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z/]+)\s*$/i.exec(text);
  const mult = m ? RATE_UNITS[m[2]!.toLowerCase()] : undefined;
  const rate = m && mult !== undefined ? Number(m[1]) * mult : NaN;
  if (!(rate > 0) || !Number.isFinite(rate))
    throw usage(`invalid bandwidth '${text}' (examples: 100Mbit, 1Gbit, 12.5MB/s)`);
  return rate;
}

/** Duration in seconds: "80ms", "30s", "5m", "1h", "1h30m". */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  const s = text.trim();
  for (let m; (m = re.exec(s));) {
    const v = Number(m[1]);
    total += m[2] === "ms" ? v / 1000 : m[2] === "s" ? v : m[2] === "m" ? v * 60 : v * 3600;
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== s.length || !Number.isFinite(total))
    throw usage(`invalid duration '${text}' (examples: 80ms, 30s, 5m, 1h30m)`);
  return total;
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(bytesPerSecond >= 1e8 ? 0 : 1)} MB/s`;
}

export function formatSeconds(s: number): string {
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 120 ? `${m}m${Math.round(s % 60)}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}

/** A price in USD per GB: a finite number, zero or more. */
export function parseCost(text: string, option: string): number {
  const cost = text.trim() === "" ? NaN : Number(text);
  if (!Number.isFinite(cost) || cost < 0)
    throw usage(`${option} takes a price in USD per GB (a number, 0 or more), got '${text}'`);
  return cost;
}
