import { join } from "node:path";
import { chunkerParams } from "../../src/chunk/chunker.js";
import { addImage } from "../../src/image/ingest.js";
import { LocalSite } from "../../src/site/local.js";
import { Store } from "../../src/store/store.js";
import type { PutProgress } from "../../src/site/site.js";
import type { Frame, Recipe } from "../../src/store/types.js";
import { pseudoRandom, pseudoText, writeSparse } from "./data.js";

export function newStore(dir: string, site: string): Store {
  return Store.init(join(dir, site), {
    site,
    chunker: chunkerParams("fastcdc", 64 * 1024),
    compression: { codec: "zstd", level: 3 },
  });
}

/** A sparse image of a few MiB with random and text regions, added to `store`. */
export async function addTestImage(
  store: Store,
  dir: string,
  name: string,
  seed = name,
): Promise<{ recipe: Recipe; path: string }> {
  const MiB = 1024 * 1024;
  const path = join(dir, `${name}.img`);
  writeSparse(path, 40 * MiB, [
    { at: 0, data: pseudoRandom(`${seed}-a`, 3 * MiB) },
    { at: 10 * MiB, data: pseudoText(`${seed}-b`, 4 * MiB) },
    { at: 30 * MiB, data: pseudoRandom(`${seed}-c`, 2 * MiB) },
  ]);
  const r = await addImage(store, path, { name });
  return { recipe: r.recipe, path };
}

export const localSite = (store: Store) => new LocalSite(store.config.site, store);

/** A LocalSite that counts the frames its store has taken, optionally taking each one slowly. */
export class CountingSite extends LocalSite {
  taken = 0;

  constructor(
    name: string,
    store: Store,
    private readonly delayMs = 0,
  ) {
    super(name, store);
  }

  override putFrames(frames: AsyncIterable<Frame>, onProgress?: (p: PutProgress) => void) {
    const counted = async function* (this: CountingSite) {
      for await (const f of frames) {
        this.taken++;
        if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
        yield f;
      }
    };
    return super.putFrames(counted.call(this), onProgress);
  }
}
