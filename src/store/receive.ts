import type { Frame, PutProgress, PutResult } from "./types.js";
import { sharedVerifier, type FramePlacement } from "./verify-pool.js";
import type { FrameResult, StoreWriter } from "./writer.js";

/** Commit (and report durable progress) after this many received payload bytes. */
const COMMIT_EVERY = 64 * 1024 * 1024;
/** Frames being checked on the verifier's thread while earlier ones are written. */
const VERIFY_AHEAD = 4;

export interface CheckedFrame {
  frame: Frame;
  /** Whether the verifier worker has checked every chunk's hash (else the writer does it). */
  verified: boolean;
}

/** Where a frame's decoded bytes go once checked (undefined: nowhere). */
export type PlaceFrame = (frame: Frame) => FramePlacement | undefined;

interface Pending {
  frame: Frame;
  checked?: Promise<void>;
  /** Settles (never rejects) once the check is over. */
  settled: Promise<void>;
}

function startCheck(frame: Frame, place?: PlaceFrame): Pending {
  const placement = sharedVerifier && place?.(frame);
  const checked = sharedVerifier?.verify(frame, placement);
  // Settled before the frame is yielded (reactions run in the order they were added).
  if (placement) checked!.then(placement.commit, placement.cancel);
  const settled = checked ? checked.catch(() => undefined) : Promise.resolve();
  return { frame, checked, settled };
}

/**
 * Yields the frames in order, each once its chunks are checked on the verifier worker, which
 * works up to VERIFY_AHEAD frames ahead of the consumer. A frame is yielded as soon as its check
 * is over, without waiting for later frames to arrive: a stream that stalls or breaks (a source
 * dying mid-pull) loses none of what came through. Throws CORRUPT at a bad frame. Without a
 * worker (NITRO_VERIFY_THREADS=0) frames pass unverified and the writer hashes them.
 * With `place`, the worker also writes each sound frame's decoded bytes where `place` says (the
 * frame is decoded once, off this thread); without a worker, `place` is not used.
 */
export async function* verifyAhead(
  frames: AsyncIterable<Frame>,
  place?: PlaceFrame,
): AsyncGenerator<CheckedFrame> {
  const source = frames[Symbol.asyncIterator]();
  const ahead: Pending[] = [];
  let reading: Promise<IteratorResult<Frame>> | undefined;
  let ended = false;
  try {
    for (;;) {
      while (!ended && ahead.length <= VERIFY_AHEAD) {
        reading ??= source.next();
        if (ahead.length > 0 && (await firstOf(reading, ahead[0]!.settled)) === "checked") break;
        const r = await reading;
        reading = undefined;
        if (r.done) ended = true;
        else ahead.push(startCheck(r.value, place));
      }
      const head = ahead.shift();
      if (!head) return;
      if (head.checked) await head.checked;
      yield { frame: head.frame, verified: head.checked !== undefined };
    }
  } finally {
    if (!ended) {
      // A source's return() waits behind a read in flight: let it finish on its own.
      reading?.catch(() => undefined);
      const closing = source.return?.();
      if (reading === undefined) await closing;
      else closing?.catch(() => undefined);
    }
  }
}

/** Which settles first: the next frame's read or the head frame's check. */
function firstOf(reading: Promise<unknown>, checked: Promise<void>): Promise<"frame" | "checked"> {
  return Promise.race([reading.then(() => "frame" as const), checked.then(() => "checked" as const)]);
}

/** Keeps one checked frame: the writer stores it, its buffer goes back, the queue drains. */
export async function storeFrame(
  writer: StoreWriter,
  { frame, verified }: CheckedFrame,
): Promise<FrameResult> {
  const r = writer.addFrame(frame, verified);
  frame.release?.();
  await writer.drain();
  return r;
}

/**
 * The one path for frames received from another site (a push to here, `nitro serve`): each is
 * checked ahead on the verifier worker, then stored; every 64 MiB of payload is committed and
 * reported. Resolves once all of it is durable. The caller owns the writer (and closes it).
 */
export async function receiveFrames(
  writer: StoreWriter,
  frames: AsyncIterable<Frame>,
  onProgress?: (p: PutProgress) => void,
): Promise<PutResult> {
  const res: PutResult = { chunks: 0, rawBytes: 0, wireBytes: 0, skipped: 0 };
  const progress = () =>
    onProgress?.({ chunks: res.chunks + res.skipped, rawBytes: res.rawBytes, wireBytes: res.wireBytes });
  let since = 0;
  for await (const checked of verifyAhead(frames)) {
    const wire = checked.frame.payload.length;
    const r = await storeFrame(writer, checked);
    res.chunks += r.stored;
    res.skipped += r.skipped;
    res.rawBytes += r.storedBytes;
    res.wireBytes += wire;
    since += wire;
    if (since >= COMMIT_EVERY) {
      await writer.commit();
      since = 0;
      progress();
    }
  }
  await writer.commit();
  progress();
  return res;
}
