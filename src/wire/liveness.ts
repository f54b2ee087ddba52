import { usage } from "../util/errors.js";

/** Seconds a site may keep silent while a reply is awaited, at least (NITRO_SITE_TIMEOUT). */
export const DEFAULT_SITE_TIMEOUT = 15;
/** The bytes sent since the site last spoke may take this many times their time at the measured rate. */
const SLACK = 4;
/** Bytes moved before the rate is trusted to lengthen the deadline. */
const MIN_MEASURED = 1024 * 1024;
/** The deadline never grows beyond this many floors: a rate measured wrong cannot hang a session. */
const MAX_FLOORS = 20;

/** The floor of the no-reply deadline: NITRO_SITE_TIMEOUT seconds, else DEFAULT_SITE_TIMEOUT. */
export function siteTimeout(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.NITRO_SITE_TIMEOUT;
  if (raw === undefined || raw.trim() === "") return DEFAULT_SITE_TIMEOUT;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw usage(`NITRO_SITE_TIMEOUT must be a positive number of seconds, not '${raw}'`);
  return seconds;
}

export interface LivenessHooks {
  /** Whether a reply is awaited (a request in flight, the HELLO). */
  busy(): boolean;
  /** Sends a PING: its PONG shows a site that is alive but has nothing to send. */
  ping(): void;
  /** Nothing arrived for `seconds` while a reply was awaited: the session is given up. */
  stalled(seconds: number): void;
}

/**
 * Watches a session for progress: while a reply is awaited, something must arrive from the site
 * within a deadline. The deadline is the floor, or longer when many bytes were sent since the site
 * last spoke: SLACK × their time at the rate measured on this session (a PING queued behind them
 * cannot be answered sooner), up to MAX_FLOORS floors. A session quiet for a third of the floor sends a PING, so a site
 * busy on a long request, or waiting for our credit, still shows it is there.
 */
export class Liveness {
  private timer: NodeJS.Timeout | undefined;
  private lastTick = 0;
  private quietSince = 0;
  private sentSinceHeard = 0;
  private movedBytes = 0;
  private busySeconds = 0;
  /** The busy seconds up to when the site last spoke: the quiet since does not dilute the rate. */
  private measuredSeconds = 0;
  private pinged = false;
  private stopped = false;
  private readonly tickMs: number;

  constructor(
    /** Seconds: the shortest deadline. */
    readonly floor: number,
    private readonly hooks: LivenessHooks,
  ) {
    this.tickMs = Math.min(1000, (floor * 1000) / 5);
  }

  /** Something arrived from the site. */
  heard(bytes: number): void {
    this.quietSince = performance.now();
    this.sentSinceHeard = 0;
    this.movedBytes += bytes;
    this.measuredSeconds = this.busySeconds;
    this.pinged = false;
  }

  /** `bytes` were handed to the link; starts the clock if the session was idle. */
  sent(bytes: number): void {
    this.movedBytes += bytes;
    this.sentSinceHeard += bytes;
    this.arm();
  }

  /** Starts the clock if it is not running (the session was idle until now). */
  arm(): void {
    if (this.timer || this.stopped) return;
    const now = performance.now();
    this.quietSince = now;
    this.lastTick = now;
    this.pinged = false;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  /** The session has ended: no more checks. */
  stop(): void {
    this.stopped = true;
    this.idle();
  }

  /** Seconds without a reply after which the site is given up, as of now. */
  deadline(): number {
    // The rate is of bytes the site has kept pace with: those sent before it last spoke, and its own.
    const confirmed = this.movedBytes - this.sentSinceHeard;
    if (this.measuredSeconds < 1 || confirmed < MIN_MEASURED) return this.floor;
    const wanted = (SLACK * this.sentSinceHeard) / (confirmed / this.measuredSeconds);
    return Math.min(MAX_FLOORS * this.floor, Math.max(this.floor, wanted));
  }

  private idle(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (!this.hooks.busy()) return this.idle();
    const now = performance.now();
    const step = now - this.lastTick;
    this.lastTick = now;
    // A tick that comes late means this process was busy (or paused): replies may be sitting unread
    // in its socket, so that time is not counted against the site.
    if (step > 2 * this.tickMs) this.quietSince += step - this.tickMs;
    this.busySeconds += Math.min(step, this.tickMs) / 1000;
    const quiet = (now - this.quietSince) / 1000;
    const deadline = this.deadline();
    if (quiet > deadline) {
      this.stop();
      this.hooks.stalled(deadline);
    } else if (quiet > this.floor / 3 && !this.pinged) {
      this.pinged = true;
      this.hooks.ping();
    }
  }
}
