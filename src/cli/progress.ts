import { createRequire } from "node:module";
import { formatBytes } from "../util/units.js";
import type { CliContext } from "./context.js";

export interface Progress {
  update(done: number, total?: number): void;
  stop(): void;
}

/** Loaded only when a bar is shown: cron and --json runs do not pay for it. */
const bars = () => createRequire(import.meta.url)("cli-progress") as typeof import("cli-progress");

const NONE: Progress = { update() {}, stop() {} };

const FORMAT = "{label} |{bar}| {percentage}% {doneH}/{totalH} {rate} ETA {eta_formatted}";

function payload(label: string, done: number, total: number, t0: number) {
  const s = (performance.now() - t0) / 1000;
  return {
    label,
    doneH: formatBytes(done),
    totalH: formatBytes(total),
    rate: s > 0 ? `${(done / s / 1e6).toFixed(0)} MB/s` : "",
  };
}

/** A byte progress bar on stderr when a person is watching; nothing under cron or --json. */
export function byteBar(ctx: CliContext, label: string, total: number): Progress {
  if (!ctx.showProgress) return NONE;
  const { SingleBar, Presets } = bars();
  const bar = new SingleBar(
    { format: FORMAT, stream: process.stderr, hideCursor: true, etaBuffer: 50 },
    Presets.shades_classic,
  );
  const t0 = performance.now();
  bar.start(total, 0, payload(label, 0, total, t0));
  let last = 0;
  return {
    update(done, t = total) {
      const now = performance.now();
      if (now - last < 100 && done < t) return;
      last = now;
      bar.setTotal(t);
      bar.update(done, payload(label, done, t, t0));
    },
    stop: () => bar.stop(),
  };
}

/** One bar per site (push targets, pull sources). */
export function multiBar(ctx: CliContext): { bar(label: string, total: number): Progress; stop(): void } {
  if (!ctx.showProgress) return { bar: () => NONE, stop() {} };
  const { MultiBar, Presets } = bars();
  const multi = new MultiBar(
    { format: FORMAT, stream: process.stderr, hideCursor: true, etaBuffer: 50 },
    Presets.shades_classic,
  );
  return {
    bar(label, total) {
      const t0 = performance.now();
      const b = multi.create(total, 0, payload(label, 0, total, t0));
      return {
        update(done, t = total) {
          b.setTotal(t);
          b.update(done, payload(label, done, t, t0));
        },
        stop() {},
      };
    },
    stop: () => multi.stop(),
  };
}
