import { describe, expect, it } from "vitest";
import { buildProgram, commandWord, GLOBAL_OPTIONS_WITH_VALUE, GROUPS } from "../../src/cli/main.js";

const argv = (...args: string[]) => ["node", "nitro", ...args];

describe("loading only the command being run", () => {
  it("lists in each group exactly the commands its module registers", async () => {
    const all = await buildProgram(argv("--help"));
    expect(all.commands.map((c) => c.name())).toEqual(GROUPS.flatMap(([, names]) => names));
    for (const [, names] of GROUPS)
      for (const name of names) {
        const program = await buildProgram(argv(name));
        expect(program.commands.map((c) => c.name())).toEqual(names);
      }
  });

  it("finds the command word after global options, with or without their values", () => {
    expect(commandWord(["--repo", "/srv/add", "--json", "ls"])).toBe("ls");
    expect(commandWord(["--repo=/srv/x", "-q", "add", "f"])).toBe("add");
    expect(commandWord(["--lock-wait", "5", "push", "img"])).toBe("push");
    expect(commandWord(["--json"])).toBeUndefined();
  });

  it("knows every global option that takes a value", async () => {
    const program = await buildProgram(argv());
    const withValue = program.options.filter((o) => o.required || o.optional).map((o) => o.long);
    expect(withValue.sort()).toEqual([...GLOBAL_OPTIONS_WITH_VALUE].sort());
  });

  it("loads every command for help and for an unknown command", async () => {
    const count = GROUPS.flatMap(([, names]) => names).length;
    expect((await buildProgram(argv("help", "add"))).commands).toHaveLength(count);
    expect((await buildProgram(argv("frobnicate"))).commands).toHaveLength(count);
  });
});
