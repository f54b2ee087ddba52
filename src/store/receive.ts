import type { Frame, PutProgress, PutResult } from "./types.js";
import { sharedVerifier } from "./verify-pool.js";
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

/**
 * Yields the frames in order, each once its chunks are checked on the verifier worker, which
 * works up to VERIFY_AHEAD frames ahead of the consumer. Throws CORRUPT at a bad frame. Without
 * a worker (NITRO_VERIFY_THREADS=0) frames pass unverified and the writer hashes them.
 */
export async function* verifyAhead(frames: AsyncIterable<Frame>): AsyncGenerator<CheckedFrame> {
  const ahead: Array<{ frame: Frame; checked?: Promise<void> }> = [];
  const next = async (): Promise<CheckedFrame> => {
    const { frame, checked } = ahead.shift()!;
    if (checked) await checked;
    return { frame, verified: checked !== undefined };
  };
  for await (const frame of frames) {
    const checked = sharedVerifier?.verify(frame);
    checked?.catch(() => undefined); // awaited in order by next()
    ahead.push({ frame, checked });
    if (ahead.length > VERIFY_AHEAD) yield await next();
  }
  while (ahead.length > 0) yield await next();
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
