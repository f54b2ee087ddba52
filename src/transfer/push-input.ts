import { existsSync, statSync } from "node:fs";
import type { AddResult } from "../image/ingest.js";
import type { Store } from "../store/store.js";
import type { Recipe } from "../store/types.js";
import { exists, usage } from "../util/errors.js";
import { defaultImageName, requireRecipe } from "./recipes.js";

/** Whether push's argument is a file to add first (else it names a stored image). */
export function isImageFile(arg: string): boolean {
  return existsSync(arg) && statSync(arg).isFile();
}

export interface PushInputOptions {
  /** The image name for a file (default: the file name without extension). */
  name?: string;
  /** Replace a stored image of that name. */
  force?: boolean;
  lockWait?: number;
  onAdded?(result: AddResult): void;
}

/**
 * The image a push sends: a file is added to this node's store first, under a name no other
 * image has unless `force`; anything else names a stored image.
 */
export async function imageToPush(
  store: Store,
  arg: string,
  file: boolean,
  opts: PushInputOptions = {},
): Promise<Recipe> {
  if (!file) {
    if (arg.includes("/")) throw usage(`${arg}: no such file`);
    return requireRecipe(store, arg);
  }
  const name = opts.name ?? defaultImageName(arg);
  if (!opts.force && store.getRecipe(name))
    throw exists(
      `image '${name}' already exists (use --force to replace it, --name to pick another name, or push the stored image by its name)`,
    );
  const { addImage } = await import("../image/ingest.js");
  const r = await addImage(store, arg, { name, force: opts.force, lockWait: opts.lockWait });
  opts.onAdded?.(r);
  return r.recipe;
}
