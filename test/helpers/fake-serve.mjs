// A lying nitro site for the trust tests, run by sshd as a site's remote command:
//
//   node fake-serve.mjs LIE serve --stdio --repo PATH
//
// It runs the real `nitro serve --stdio --repo PATH` (the built dist) as a child and relays the
// wire protocol message by message between it and the client, lying as LIE says:
//
//   honest             relay only (the baseline)
//   other-recipe=NAME  GET_RECIPE of any image is asked of the child as NAME: another image's recipe
//   bad-digest         RECIPE headers carry a digest that is not the image's
//   evil-name[=NAME]   RECIPE headers carry the name NAME (default ../../x)
//   silent-after=N     relays N client messages after HELLO, then none (no replies, link stays up)
//   error-escapes      answers the first request with ERROR code 70 whose text holds terminal
//                      escape sequences and a forged "nitro: ..." line
//   fatal-escapes      the same text as a session ERROR (request 0), on stderr too, then exit 70
//   huge-recipe[=N]    answers GET_RECIPE with a recipe of N zero-run entries (default: the
//                      protocol's limit), streamed as fast as the client reads
//
// Plain JavaScript on the built modules: sshd runs it with node, with no TypeScript loader.
import { spawn } from "node:child_process";
import { URL, fileURLToPath } from "node:url";
import { encodeError, message } from "../../dist/wire/messages.js";
import { ACCEPTS, Limits, Msg } from "../../dist/wire/protocol.js";
import { MessageReader } from "../../dist/wire/reader.js";

const NITRO_BIN = fileURLToPath(new URL("../../bin/nitro.js", import.meta.url));

/** Sent to mess with a terminal and to pass for nitro's own output; equal to fake-site.ts's EVIL_TEXT. */
const EVIL_TEXT =
  "\x1b[2J\x1b[H\x1b]0;owned\x07boom\x1b[31m\r\nnitro: error: repository corrupt, run 'rm -rf ~/.nitro' to repair\x1b[0m";
const ENTRY_BYTES = 36;

const [spec = "honest", ...serveArgs] = process.argv.slice(2);
const eq = spec.indexOf("=");
const lie = eq < 0 ? spec : spec.slice(0, eq);
const arg = eq < 0 ? undefined : spec.slice(eq + 1);
const LIES = [
  "honest",
  "other-recipe",
  "bad-digest",
  "evil-name",
  "silent-after",
  "error-escapes",
  "fatal-escapes",
  "huge-recipe",
];
if (!LIES.includes(lie) || (lie === "other-recipe" && !arg)) {
  process.stderr.write(`fake-serve: unknown lie '${spec}' (one of ${LIES.join(", ")})\n`);
  process.exit(2);
}

const child = spawn(process.execPath, [NITRO_BIN, ...serveArgs], { stdio: ["pipe", "pipe", "inherit"] });
child.stdin.on("error", () => undefined);
const out = process.stdout;
out.on("error", () => process.exit(0));

let relayed = 0;
let answeredOne = false;
// A client may write its first requests before the server has greeted it (a pull does): what is
// answered here goes out after the child's HELLO, as a server's answers would.
let greet;
const greeted = new Promise((r) => (greet = r));

/** Client → child, possibly rewritten or kept back; true when handled here instead. */
async function fromClient(m) {
  if (m.type === Msg.HELLO) return false;
  if (lie === "silent-after" && relayed >= Number(arg ?? 0)) return true;
  relayed++;
  if (m.type === Msg.BYE) return false;
  await greeted;
  if (lie === "error-escapes" && !answeredOne) {
    answeredOne = true;
    out.write(Buffer.concat(message(Msg.ERROR, m.req, encodeError(70, EVIL_TEXT))));
    return true;
  }
  if (lie === "fatal-escapes") {
    process.stderr.write(`${EVIL_TEXT}\n`);
    out.end(Buffer.concat(message(Msg.ERROR, 0, encodeError(70, EVIL_TEXT))), () => process.exit(70));
    child.kill("SIGKILL");
    return true;
  }
  if (m.type === Msg.GET_RECIPE && lie === "huge-recipe") {
    await sendHugeRecipe(m.req, Number(arg ?? Limits.RECIPE_ENTRIES));
    return true;
  }
  if (m.type === Msg.GET_RECIPE && lie === "other-recipe") {
    child.stdin.write(Buffer.concat(message(m.type, m.req, Buffer.from(arg, "utf8"))));
    return true;
  }
  return false;
}

/** Child → client: a RECIPE header may be rewritten. */
function fromChild(m) {
  if (m.type !== Msg.RECIPE || (lie !== "bad-digest" && lie !== "evil-name")) return undefined;
  const header = JSON.parse(m.body.toString("utf8"));
  if (lie === "bad-digest") header.digest = header.digest.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
  else header.name = arg ?? "../../x";
  return Buffer.concat(message(Msg.RECIPE, m.req, Buffer.from(JSON.stringify(header))));
}

/** A recipe of `count` zero runs of 4 KiB, parts written as the client takes them. */
async function sendHugeRecipe(req, count) {
  const header = {
    name: "huge.raw",
    size: count * 4096,
    chunker: { kind: "fixed", min: 4096, avg: 4096, max: 4096 },
    digest: "ab".repeat(32),
    created: "2026-01-01T00:00:00.000Z",
    count,
  };
  out.write(Buffer.concat(message(Msg.RECIPE, req, Buffer.from(JSON.stringify(header)))));
  const part = Buffer.alloc(Limits.PART_ENTRIES * ENTRY_BYTES);
  for (let o = 32; o < part.length; o += ENTRY_BYTES) part.writeUInt32LE(4096, o);
  for (let left = count; left > 0 && !out.destroyed; left -= Limits.PART_ENTRIES) {
    const n = Math.min(left, Limits.PART_ENTRIES);
    if (!out.write(Buffer.concat(message(Msg.RECIPE_PART, req, part.subarray(0, n * ENTRY_BYTES)))))
      await new Promise((r) => out.once("drain", r));
  }
}

/** Raw bytes of a message as read: HELLO has no header. */
const encoded = (m) => (m.type === Msg.HELLO ? m.body : Buffer.concat(message(m.type, m.req, m.body)));

async function relay(input, accepts, each) {
  const reader = new MessageReader(accepts);
  for await (const chunk of input) {
    reader.push(chunk);
    for (let m = reader.next(); m; m = reader.next()) await each(m);
  }
}

const childExit = new Promise((r) => child.once("exit", (c) => r(c)));

// The client hung up: the child sees the end too (a silent site never relayed the BYE).
relay(process.stdin, ACCEPTS.server, async (m) => {
  if (!(await fromClient(m))) child.stdin.write(encoded(m));
})
  .catch(() => undefined)
  .finally(() => child.stdin.end());

await relay(child.stdout, ACCEPTS.client, async (m) => {
  if (!out.write(fromChild(m) ?? encoded(m))) await new Promise((r) => out.once("drain", r));
  if (m.type === Msg.HELLO) greet();
}).catch(() => undefined);
// The session is over once the child's output ends: exiting closes our stdout (end() cannot),
// which is what lets sshd tell the client. Writes to a pipe are synchronous, nothing is lost.
const code = await childExit;
process.exit(lie === "fatal-escapes" ? 70 : (code ?? 1));
