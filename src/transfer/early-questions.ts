import type { ReadSite } from "../site/site.js";
import type { ChunkId, ChunkList, Recipe, StoredSizes } from "../store/types.js";
import { ForwardingReadSite } from "../site/wrapper.js";
import { trace } from "../util/trace.js";

/**
 * A pull's first questions, written to each site as soon as its connection is open, before its
 * greeting has come back (they wait behind it there): the image's recipe, and, once any site has
 * given a recipe, which of the chunks the destination lacks the site holds and at what stored
 * size. On the WAN bench the far `nitro serve` takes ~0.1 s to start: the questions are read when
 * it is up instead of leaving after its greeting, and the slowest site is asked for its holdings
 * before the sites ahead of it in order have said whether they know the image.
 *
 * Nothing is decided on these answers here: the recipe is still the first sound one in site order
 * (findRecipe asks wrap()'s sites, which hand back the early answer), and a site's early holdings
 * are used only if they were asked for exactly the chunks the chosen recipe needs.
 */
export class EarlyQuestions {
  private readonly recipes = new Map<string, Promise<Recipe | undefined>>();
  private readonly sizes = new Map<string, { ids: ChunkId[]; answer: Promise<StoredSizes> }>();
  private readonly open = new Map<string, ReadSite>();
  private need: ChunkList | undefined;
  private adopted = false;

  constructor(
    private readonly image: string,
    /** The chunks of a recipe the destination lacks, in recipe order (as preparePlan counts them). */
    private readonly needed: (recipe: Recipe) => Promise<ChunkList>,
  ) {}

  /** The site's connection is open: only reads may be asked yet. */
  connected(site: ReadSite): void {
    this.open.set(site.name, site);
    const recipe = site.getRecipe(this.image);
    this.recipes.set(site.name, recipe);
    recipe
      .then((r) => {
        trace(`${site.name}: recipe ${r ? "in" : "unknown there"}`);
        if (r) this.known(r);
      })
      .catch(() => undefined);
    if (this.need) this.ask(site, this.need);
  }

  /** The site as the pull uses it, its early answers handed back once each. */
  wrap(site: ReadSite): ReadSite {
    return new AnsweredEarly(site, this);
  }

  takeRecipe(site: string, image: string): Promise<Recipe | undefined> | undefined {
    const r = image === this.image ? this.recipes.get(site) : undefined;
    this.recipes.delete(site);
    return r;
  }

  takeSizes(site: string, ids: ChunkId[]): Promise<StoredSizes> | undefined {
    const early = this.sizes.get(site);
    this.sizes.delete(site);
    return early && sameIds(early.ids, ids) ? early.answer : undefined;
  }

  /**
   * The holdings are asked about the first recipe known: the destination's own (the one the pull
   * will use), else the first to come from any site.
   */
  known(recipe: Recipe): void {
    if (this.adopted) return;
    this.adopted = true;
    void this.needed(recipe).then(
      (need) => {
        this.need = need;
        trace(`holdings asked of the ${this.open.size} sites open`);
        for (const site of this.open.values()) this.ask(site, need);
      },
      () => undefined,
    );
  }

  private ask(site: ReadSite, { ids, lengths }: ChunkList): void {
    const answer = site.storedSizes(ids, lengths);
    answer.then(() => trace(`${site.name}: holdings in`)).catch(() => undefined);
    this.sizes.set(site.name, { ids, answer });
  }
}

class AnsweredEarly extends ForwardingReadSite {
  constructor(
    inner: ReadSite,
    private readonly early: EarlyQuestions,
  ) {
    super(inner);
  }

  override getRecipe(name: string): Promise<Recipe | undefined> {
    return this.early.takeRecipe(this.name, name) ?? super.getRecipe(name);
  }

  override storedSizes(ids: ChunkId[], lengths: ArrayLike<number>): Promise<StoredSizes> {
    return this.early.takeSizes(this.name, ids) ?? super.storedSizes(ids, lengths);
  }
}

function sameIds(a: ChunkId[], b: ChunkId[]): boolean {
  return a === b || (a.length === b.length && a.every((id, i) => id.equals(b[i]!)));
}
