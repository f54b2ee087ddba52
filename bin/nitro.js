#!/usr/bin/env -S node --initial-old-space-size=64 --interrupt-budget=1048576
// The flags apply when nitro is run as a program. --initial-old-space-size: with V8's default first
// limit (a few MB above what is live) a pull's steady stream of socket and frame buffers starts a
// full collection every 50 ms (~40 in a 3 s pull, 0.4 s of the main thread); from 64 MB on, about
// five. --interrupt-budget (8x V8's default): a function is optimized after 8x more bytecode run
// in it; a command lasts seconds, and optimizing the lukewarm code of start-up, SSH handshakes and
// option parsing was 16% of a pull's CPU (perf); with it, 11 alternated WAN pulls used 0.5 CPU-s
// less each (user 3.2 against 3.7 s), ingest unchanged. Hot loops still get optimized within ms.
import { main } from "../dist/cli/main.js";

main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`nitro: internal error: ${err?.stack ?? err}`);
    process.exit(70);
  },
);
