import type { Matrix } from "../matrix/matrix.js";
import type { ReadSite } from "../site/site.js";
import type { Recipe } from "../store/types.js";
import { Exit, NitroError } from "../util/errors.js";
import type { PullSource } from "./pull.js";
import type { Eventually, OpenedSite } from "./site-set.js";

/** Used for a link the matrix does not know, with a note: the plan then treats such sites alike. */
export const UNKNOWN_BANDWIDTH = 125e6;

/** Bandwidth, rtt and egress cost from each source to `dest`, as the planner sees them. */
export function describeSources(
  sites: readonly OpenedSite[],
  dest: string,
  matrix: Matrix,
  note: (msg: string) => void,
): PullSource[] {
  return sites.map((s) => describeSource(s, dest, matrix, note));
}

export function describeSource(
  { config, site }: OpenedSite,
  dest: string,
  matrix: Matrix,
  note: (msg: string) => void,
): PullSource {
  const link = matrix.get(config.name, dest);
  if (!link)
    note(
      `no bandwidth known for ${config.name} -> ${dest} (run 'nitro probe' or 'nitro matrix set'): assuming 1 Gbit/s`,
    );
  return {
    name: config.name,
    site,
    bandwidth: link?.bandwidth ?? UNKNOWN_BANDWIDTH,
    rtt: link?.rtt ?? 0,
    cost: link?.cost ?? config.egressCost ?? 0,
  };
}

/**
 * The recipe of the first site, in the given order, that knows the image. Every site is asked as
 * soon as it is open; a site whose answer is refused (a wrong or damaged recipe, a failure) is
 * passed over, and when no site knows the image those refusals are the error, so a lying site is
 * named. A site that could not be opened (undefined) is passed over.
 */
export async function findRecipe(
  name: string,
  sites: ReadonlyArray<Eventually<ReadSite | undefined>>,
): Promise<Recipe | undefined> {
  const answers = sites.map(async (opening) => {
    const s = await opening;
    if (!s) return { recipe: undefined };
    return s.getRecipe(name).then(
      (recipe) => ({ recipe }),
      (error: unknown) => ({ error }),
    );
  });
  const refusals: NitroError[] = [];
  for (const answer of answers) {
    const a = await answer;
    if ("recipe" in a && a.recipe) return a.recipe;
    if ("error" in a) refusals.push(asNitroError(a.error));
  }
  if (refusals.length === 0) return undefined;
  throw new NitroError(
    refusals[0]!.exitCode,
    `no site gave a usable recipe of '${name}': ${refusals.map((e) => e.message).join("; ")}`,
  );
}

function asNitroError(err: unknown): NitroError {
  return err instanceof NitroError ? err : new NitroError(Exit.REMOTE, (err as Error).message);
}
