#!/usr/bin/env -S node --initial-old-space-size=64
// The flag: with V8's default first limit (a few MB above what is live) a pull's steady stream of
// socket and frame buffers starts a full collection every 50 ms (~40 in a 3 s pull, 0.4 s of the
// main thread); from 64 MB on, about five. It applies when nitro is run as a program.
import { main } from "../dist/cli/main.js";

main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`nitro: internal error: ${err?.stack ?? err}`);
    process.exit(70);
  },
);
