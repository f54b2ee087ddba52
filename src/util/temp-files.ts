import { readdirSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Temporary output files (`.NAME.nitro-tmp-PID` beside the target) are removed when the process
 * ends on SIGINT or SIGTERM; those of a process killed harder are removed by the next run that
 * writes into the same directory, once their PID is dead.
 */
const TEMPORARY = /^\..+\.nitro-tmp-(\d+)$/;
/** The name used before: `.NAME.nitro-PID.tmp`. */
const OLD_TEMPORARY = /^\..+\.nitro-(\d+)\.tmp$/;

const live = new Set<string>();
const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;
const onSignal = (signal: NodeJS.Signals) => {
  removeLive();
  process.exit(SIGNALS[signal as keyof typeof SIGNALS]);
};

export function temporaryPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.nitro-tmp-${process.pid}`);
}

/** Removes the temporaries in dir whose process is gone; returns their names. */
export function removeStaleTemporaries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number((TEMPORARY.exec(name) ?? OLD_TEMPORARY.exec(name))?.[1]);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      /* another run removed it, or it is not ours to remove */
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
  }
}

/**
 * Removes path if the process exits or gets SIGINT/SIGTERM before `forgetTemporary(path)`; the
 * signal handlers are there only while some temporary is.
 */
export function trackTemporary(path: string): void {
  if (live.size === 0) {
    process.on("exit", removeLive);
    for (const signal of Object.keys(SIGNALS)) process.on(signal, onSignal);
  }
  live.add(path);
}

export function forgetTemporary(path: string): void {
  if (!live.delete(path) || live.size > 0) return;
  process.off("exit", removeLive);
  for (const signal of Object.keys(SIGNALS)) process.off(signal, onSignal);
}

function removeLive(): void {
  for (const path of live) {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
  live.clear();
}
