import type { WriteSite } from "../site/site.js";
import type { Store } from "../store/store.js";
import type { Recipe } from "../store/types.js";
import { Exit, NitroError } from "../util/errors.js";
import { pushImage, type PushOptions, type PushResult } from "./push.js";

export interface PushTarget {
  name: string;
  /** The site being opened: a failure to open is that target's failure. */
  opening: Promise<WriteSite>;
}

export interface PushOutcome {
  results: PushResult[];
  failures: Array<{ site: string; error: NitroError }>;
  /** The first failure, which sets the exit code. */
  error?: NitroError;
}

/** Pushes one image to every target at once; each target is closed when done, whatever happens. */
export async function pushToTargets(
  store: Store,
  recipe: Recipe,
  targets: readonly PushTarget[],
  opts: PushOptions = {},
): Promise<PushOutcome> {
  const outcomes = await Promise.allSettled(
    targets.map(async ({ opening }) => {
      const site = await opening;
      try {
        return await pushImage(store, recipe, site, opts);
      } finally {
        await site.close();
      }
    }),
  );
  const results = outcomes.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failures = outcomes.flatMap((r, i) =>
    r.status === "rejected" ? [{ site: targets[i]!.name, error: asNitroError(r.reason) }] : [],
  );
  return { results, failures, ...(failures[0] ? { error: failures[0].error } : {}) };
}

function asNitroError(err: unknown): NitroError {
  return err instanceof NitroError ? err : new NitroError(Exit.FAILURE, (err as Error).message);
}
