/**
 * NITRO_TRACE=1: milestones of a run on stderr, in seconds since the process started (node's own
 * start-up included), then the CPU seconds the process has used so far (all its threads), to see
 * where a command's time goes. Off, a call costs one branch.
 */
const enabled = Boolean(process.env.NITRO_TRACE);

export function trace(event: string): void {
  if (!enabled) return;
  const { user, system } = process.cpuUsage();
  const cpu = ((user + system) / 1e6).toFixed(3);
  process.stderr.write(`nitro-trace ${(performance.now() / 1000).toFixed(3)} cpu ${cpu} ${event}\n`);
}

/** Whether tracing is on (to skip building costly event text). */
export const tracing = enabled;
