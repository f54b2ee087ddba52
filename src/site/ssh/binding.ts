import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let warned = false;

/**
 * Whether ssh2's native crypto binding (sshcrypto.node) loaded. Without it ssh2 falls back to
 * pure JS AES-GCM and moves about 8x fewer bytes per second, so warn once when it is missing.
 */
export function checkSshCryptoBinding(warn: (msg: string) => void = defaultWarn): boolean {
  let available = false;
  try {
    available =
      (require("ssh2/lib/protocol/crypto.js") as { bindingAvailable?: boolean }).bindingAvailable === true;
  } catch {
    available = false;
  }
  if (!available && !warned) {
    warned = true;
    warn(
      "ssh2's native crypto binding (ssh2/lib/protocol/crypto/build/Release/sshcrypto.node) did not load: " +
        "SSH transfers will be about 8x slower. Rebuild it with `npm rebuild ssh2` (needs a C++ toolchain and node headers).",
    );
  }
  return available;
}

function defaultWarn(msg: string): void {
  process.stderr.write(`nitro: warning: ${msg}\n`);
}
