/**
 * The wire-byte lower bound of a multi-source pull, computed apart from nitro's planner.
 * Run: npx vite-node bench/wan/bound.ts IMAGE RECIPE_REPO SITE=RATE:REPO...
 *   RATE is the source's payload rate in bytes/s, REPO its store (read only).
 *
 * A chunk costs the bytes its frame puts on the wire: its share (by raw length) of the compressed
 * frame it sits in at the cheapest holder. No schedule, however split, beats
 *   max over source sets S of (wire bytes of the chunks only S holds) / (sum of S's rates)
 * (Hall's condition; with a handful of sources every S is enumerated). Prints JSON, with the
 * smallest copy of the whole image one source stores (its own frames' bytes): the cheapest-share
 * accounting above mixes the frames of holders that grouped the chunks differently, which no pull
 * sending stored frames can quite do, so the bytes actually moved sit between the two.
 */
import { IndexDb, decodeLocation } from "../../src/store/index-db.js";
import { uniqueChunks } from "../../src/store/recipe.js";

interface Source {
  name: string;
  rate: number;
  wireOf: Map<string, number>;
}

/** Wire bytes of every chunk a store holds: frame length shared out by raw length. */
function wireSizes(repo: string): Map<string, number> {
  const db = new IndexDb(`${repo}/index`, true);
  const frames = new Map<string, { raw: number; wire: number }>();
  const chunks: [string, string, number][] = [];
  for (const { key, value } of db.chunks.getRange()) {
    const l = decodeLocation(value);
    const frame = `${l.pack}:${l.frameOffset}`;
    const f = frames.get(frame) ?? { raw: 0, wire: l.frameLength };
    f.raw += l.rawLength;
    frames.set(frame, f);
    chunks.push([key.toString("hex"), frame, l.rawLength]);
  }
  const out = new Map<string, number>();
  for (const [id, frame, raw] of chunks) {
    const f = frames.get(frame)!;
    out.set(id, f.raw > 0 ? (f.wire * raw) / f.raw : 0);
  }
  void db.close();
  return out;
}

function main(argv: string[]): void {
  const [image, recipeRepo, ...specs] = argv;
  if (!image || !recipeRepo || specs.length === 0 || specs.length > 20) {
    throw new Error("usage: bound.ts IMAGE RECIPE_REPO SITE=RATE:REPO...");
  }
  const db = new IndexDb(`${recipeRepo}/index`, true);
  const recipe = db.recipe(image);
  if (!recipe) throw new Error(`no image ${image} in ${recipeRepo}`);
  const { ids, lengths } = uniqueChunks(recipe);
  void db.close();
  const sources: Source[] = specs.map((spec) => {
    const m = /^([^=]+)=([0-9.]+):(.+)$/.exec(spec);
    if (!m) throw new Error(`bad source '${spec}' (SITE=RATE:REPO)`);
    return { name: m[1]!, rate: Number(m[2]), wireOf: wireSizes(m[3]!) };
  });
  // bytes per holder set (bit i = source i)
  const bySet = new Map<number, number>();
  let wireTotal = 0;
  let rawTotal = 0;
  ids.forEach((id, i) => {
    const hex = id.toString("hex");
    let mask = 0;
    let wire = Infinity;
    sources.forEach((s, k) => {
      const w = s.wireOf.get(hex);
      if (w === undefined) return;
      mask |= 1 << k;
      wire = Math.min(wire, w);
    });
    if (mask === 0) throw new Error(`chunk ${hex} is held by no source`);
    bySet.set(mask, (bySet.get(mask) ?? 0) + wire);
    wireTotal += wire;
    rawTotal += lengths[i]!;
  });
  let bound = 0;
  let tight = 0;
  for (let s = 1; s < 1 << sources.length; s++) {
    let bytes = 0;
    for (const [mask, b] of bySet) if ((mask & ~s) === 0) bytes += b;
    let rate = 0;
    sources.forEach((src, k) => {
      if (s & (1 << k)) rate += src.rate;
    });
    if (bytes / rate > bound) [bound, tight] = [bytes / rate, s];
  }
  let smallestCopy: { site: string; wireBytes: number } | undefined;
  for (const s of sources) {
    let own = 0;
    for (const id of ids) own += s.wireOf.get(id.toString("hex")) ?? Infinity;
    if (own < (smallestCopy?.wireBytes ?? Infinity))
      smallestCopy = { site: s.name, wireBytes: Math.round(own) };
  }
  const names = (s: number): string[] => sources.filter((_, k) => s & (1 << k)).map((x) => x.name);
  const holders = [...bySet].map(([mask, bytes]) => ({ sites: names(mask), wireBytes: Math.round(bytes) }));
  console.log(
    JSON.stringify({
      image,
      chunks: ids.length,
      rawBytes: rawTotal,
      wireBytes: Math.round(wireTotal),
      bound,
      tightSet: names(tight),
      smallestCopy,
      holders,
    }),
  );
}

main(process.argv.slice(2));
