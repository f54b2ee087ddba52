import type { ImageStatus, ReadSite } from "./site.js";

/** What one site holds of one image, as `nitro where` shows it. */
export type Holding =
  | { state: "complete" }
  | { state: "recipe-only" }
  /** `percent` of the image's data bytes, rounded down to 0.1 (never 100: that is complete). */
  | { state: "partial"; percent: number; presentBytes: number; dataBytes: number }
  | { state: "absent" }
  | { state: "unreachable" };

export interface WhereSite {
  name: string;
  /** Why the site could not be asked, when it could not. */
  error?: string;
}

export interface WhereRow {
  image: string;
  /** The image's size, as the sites that have its recipe say. */
  size: number;
  at: Record<string, Holding>;
}

export interface WhereTable {
  sites: WhereSite[];
  images: WhereRow[];
}

/** A site to ask: opened by the caller's function, closed here once it has answered. */
export interface WhereSource {
  name: string;
  open: () => Promise<ReadSite>;
}

export function holdingOf(s: ImageStatus | undefined): Holding {
  if (!s?.recipe) return { state: "absent" };
  if (s.complete) return { state: "complete" };
  if (s.presentBytes === 0) return { state: "recipe-only" };
  const percent = Math.min(99.9, Math.floor((s.presentBytes * 1000) / s.dataBytes) / 10);
  return { state: "partial", percent, presentBytes: s.presentBytes, dataBytes: s.dataBytes };
}

async function ask(source: WhereSource, names?: string[]): Promise<ImageStatus[]> {
  const site = await source.open();
  try {
    return await site.status(names);
  } finally {
    await site.close().catch(() => undefined);
  }
}

/**
 * Which site holds what: every source is opened and asked at once, one status request each (for
 * the named images, else for every image it has a recipe of). An unreachable site is a column of
 * "unreachable", not a failure. Rows are the named images, else every image some site knows.
 */
export async function whereImages(sources: WhereSource[], names?: string[]): Promise<WhereTable> {
  const answers = await Promise.allSettled(sources.map((s) => ask(s, names)));
  const sites: WhereSite[] = sources.map((s, i) => {
    const a = answers[i]!;
    return a.status === "fulfilled" ? { name: s.name } : { name: s.name, error: (a.reason as Error).message };
  });
  const bySite = answers.map((a) =>
    a.status === "fulfilled" ? new Map(a.value.map((s) => [s.name, s])) : undefined,
  );
  const imageNames =
    names !== undefined
      ? [...new Set(names)]
      : [
          ...new Set(
            bySite.flatMap((m) => (m ? [...m.values()].filter((s) => s.recipe).map((s) => s.name) : [])),
          ),
        ].sort();
  const images = imageNames.map((image) => {
    const at: Record<string, Holding> = {};
    let size = 0;
    sources.forEach((src, i) => {
      const known = bySite[i];
      const status = known?.get(image);
      if (status?.recipe) size = Math.max(size, status.size);
      at[src.name] = known ? holdingOf(status) : { state: "unreachable" };
    });
    return { image, size, at };
  });
  return { sites, images };
}

/** How a holding reads in the table. */
export function holdingText(h: Holding): string {
  switch (h.state) {
    case "complete":
      return "complete";
    case "recipe-only":
      return "recipe only";
    case "partial":
      return `partial ${h.percent.toFixed(1)}%`;
    case "absent":
      return "-";
    case "unreachable":
      return "unreachable";
  }
}
