import { createRequire } from "node:module";
import type { Command } from "commander";
import { Exit, NitroError } from "../util/errors.js";
import { trace } from "../util/trace.js";

const require = createRequire(import.meta.url);
const commander = require("commander") as typeof import("commander");

type Registrar = () => Promise<{ register(program: Command): void }>;

/**
 * Each group of commands, in the order `--help` lists them, with the commands it registers. Only
 * the group of the command being run is loaded: loading them all made every start ~14 ms slower
 * here (`nitro ls` 263 against 250 ms; the far side of a push starts one per connection).
 */
export const GROUPS: Array<[Registrar, string[]]> = [
  [() => import("./commands/init.js"), ["init"]],
  [() => import("./commands/add.js"), ["add"]],
  [() => import("./commands/images.js"), ["ls", "info", "stats", "export", "check"]],
  [() => import("./commands/lifecycle.js"), ["rm", "gc"]],
  [() => import("./commands/where.js"), ["where"]],
  [() => import("./commands/site.js"), ["site"]],
  [() => import("./commands/serve.js"), ["serve"]],
  [() => import("./commands/push.js"), ["push"]],
  [() => import("./commands/matrix.js"), ["matrix", "probe"]],
  [() => import("./commands/pull.js"), ["plan", "pull"]],
  [() => import("./commands/replicate.js"), ["replicate", "pull-part"]],
  [() => import("./commands/verify.js"), ["verify"]],
];

/** Global options that take a value (the word after them is not the command). */
export const GLOBAL_OPTIONS_WITH_VALUE = ["--repo", "--lock-wait"];

/** The command word of a command line, if any: the first argument that is not a global option. */
export function commandWord(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return args[i + 1];
    if (!a.startsWith("-")) return a;
    if (GLOBAL_OPTIONS_WITH_VALUE.includes(a)) i++;
  }
  return undefined;
}

/** The program with the commands `argv` runs, or with all of them (help, unknown command). */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const word = commandWord(argv.slice(2));
  const groups = GROUPS.filter(([, names]) => word !== undefined && names.includes(word));
  const program = baseProgram();
  const loaded = await Promise.all((groups.length > 0 ? groups : GROUPS).map(([load]) => load()));
  for (const group of loaded) group.register(program);
  program.commands.forEach((c) => c.exitOverride());
  return program;
}

function baseProgram(): Command {
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
  trace("main");
  const program = await buildProgram(argv);
  const json = argv.includes("--json");
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof commander.CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0)
        return Exit.OK;
      // commander has printed the message (and help) on stderr already.
      if (json) printJsonError(err.message.replace(/^error: /, ""), Exit.USAGE);
      return Exit.USAGE;
    }
    if (err instanceof NitroError) {
      process.stderr.write(`nitro: ${err.message}\n`);
      if (json) printJsonError(err.message, err.exitCode);
      return err.exitCode;
    }
    if (json) printJsonError(`internal error: ${(err as Error)?.message ?? String(err)}`, Exit.INTERNAL);
    throw err;
  }
}

/** With --json, every failure also ends as one JSON object on stdout. */
function printJsonError(message: string, exitCode: number): void {
  process.stdout.write(JSON.stringify({ error: message, exitCode }) + "\n");
}
