#!/usr/bin/env node
import { main } from "../dist/cli/main.js";

main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`nitro: internal error: ${err?.stack ?? err}`);
    process.exit(70);
  },
);
