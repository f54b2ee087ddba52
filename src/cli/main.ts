import { createRequire } from "node:module";
import type { Command } from "commander";
import { Exit, NitroError } from "../util/errors.js";
import { register as registerAdd } from "./commands/add.js";
import { register as registerImages } from "./commands/images.js";
import { register as registerInit } from "./commands/init.js";
import { register as registerMatrix } from "./commands/matrix.js";
import { register as registerPull } from "./commands/pull.js";
import { register as registerPush } from "./commands/push.js";
import { register as registerServe } from "./commands/serve.js";
import { register as registerSite } from "./commands/site.js";

const require = createRequire(import.meta.url);
const commander = require("commander") as typeof import("commander");

const COMMANDS: Array<(program: Command) => void> = [
  registerInit,
  registerAdd,
  registerImages,
  registerSite,
  registerServe,
  registerPush,
  registerMatrix,
  registerPull,
];

export function buildProgram(): Command {
  const program = new commander.Command("nitro")
    .description("distribute VM images across sites with deduplication")
    .version("0.1.0")
    .option("--repo <dir>", "repository directory (default: $NITRO_HOME, else ~/.nitro)")
    .option("--json", "machine-readable output on stdout")
    .option("-q, --quiet", "print only errors")
    .option("--no-progress", "no progress bars (they only show on a terminal anyway)")
    .addOption(
      new commander.Option("--lock-wait <seconds>", "how long to wait for a locked repository")
        .default(10)
        .argParser(parseSeconds),
    )
    .showHelpAfterError()
    .exitOverride();
  for (const register of COMMANDS) register(program);
  program.commands.forEach((c) => c.exitOverride());
  return program;
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new NitroError(Exit.USAGE, `--lock-wait takes a number of seconds, got '${v}'`);
  return n;
}

/** Runs the CLI; returns the exit code (see the table in README.md). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes("--json");
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof commander.CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0)
        return Exit.OK;
      return Exit.USAGE;
    }
    if (err instanceof NitroError) {
      process.stderr.write(`nitro: ${err.message}\n`);
      if (json) process.stdout.write(JSON.stringify({ error: err.message, exitCode: err.exitCode }) + "\n");
      return err.exitCode;
    }
    throw err;
  }
}
