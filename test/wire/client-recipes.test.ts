import { describe, expect, it } from "vitest";
import { recipeDigest } from "../../src/store/recipe.js";
import { ENTRY_BYTES, type Recipe } from "../../src/store/types.js";
import { Exit, NitroError } from "../../src/util/errors.js";
import { Msg } from "../../src/wire/protocol.js";
import { recipeHeader, recipeParts } from "../../src/wire/recipes.js";
import { ScriptedServer } from "./scripted-server.js";

function recipeNamed(name: string, chunks = 3): Recipe {
  const entries = Buffer.alloc(chunks * ENTRY_BYTES);
  for (let i = 0; i < chunks; i++) {
    entries.fill(i + 1, i * ENTRY_BYTES, i * ENTRY_BYTES + 32);
    entries.writeUInt32LE(1000 + i, i * ENTRY_BYTES + 32);
  }
  const size = chunks * 1000 + (chunks * (chunks - 1)) / 2;
  return {
    name,
    size,
    chunker: { kind: "fastcdc", min: 256, avg: 1024, max: 4096 },
    digest: recipeDigest(size, entries),
    created: "2026-01-01T00:00:00.000Z",
    entries,
  };
}

/** A site that answers every GET_RECIPE with `sent` (whatever was asked), and PING with PONG. */
function siteSending(sent: Recipe): ScriptedServer {
  return new ScriptedServer((m, server) => {
    if (m.type === Msg.PING) server.reply(Msg.PONG, m.req, m.body);
    if (m.type !== Msg.GET_RECIPE) return;
    server.reply(Msg.RECIPE, m.req, recipeHeader(sent));
    for (const part of recipeParts(sent)) server.reply(Msg.RECIPE_PART, m.req, part);
  });
}

async function refusal(s: ScriptedServer, asked: string): Promise<NitroError> {
  const err: unknown = await s.client.getRecipe(asked).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NitroError);
  expect((err as NitroError).exitCode).toBe(Exit.CORRUPT);
  // One bad reply fails that request, not the session.
  await expect(s.client.ping()).resolves.toBeUndefined();
  return err as NitroError;
}

describe("ProtocolClient.getRecipe checks the site's reply", () => {
  it("takes a recipe of the name asked whose entries match its digest", async () => {
    const recipe = recipeNamed("debian-12.raw");
    expect(await siteSending(recipe).client.getRecipe("debian-12.raw")).toEqual(recipe);
  });

  it("refuses a recipe of another name than the one asked", async () => {
    const err = await refusal(siteSending(recipeNamed("other.raw")), "debian-12.raw");
    expect(err.message).toBe("lyon: sent image 'other.raw' when asked for 'debian-12.raw'");
  });

  it("refuses a recipe under a name no store would accept, even when asked for it", async () => {
    const err = await refusal(siteSending(recipeNamed("../../etc/passwd")), "../../etc/passwd");
    expect(err.message).toBe("lyon: sent an image under an invalid name '../../etc/passwd'");
  });

  it("refuses a recipe whose entries do not hash to its digest", async () => {
    const forged = { ...recipeNamed("debian-12.raw"), digest: recipeNamed("x", 4).digest };
    const err = await refusal(siteSending(forged), "debian-12.raw");
    expect(err.message).toBe(
      "lyon: sent image 'debian-12.raw' with a chunk list that does not match its digest",
    );
  });

  it("refuses a recipe whose entries do not add up to its size, naming the site", async () => {
    const wrong = { ...recipeNamed("debian-12.raw"), size: 5 };
    const err = await refusal(siteSending(wrong), "debian-12.raw");
    expect(err.message).toMatch(/^lyon: recipe 'debian-12.raw': entry lengths do not add up/);
  });
});
