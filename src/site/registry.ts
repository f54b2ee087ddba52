import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { writeFileAtomic } from "../store/config.js";
import { exists, notFound, usage } from "../util/errors.js";
import { parseSshUrl } from "./ssh/url.js";

/** A site as this node knows it (sites.json in the repository). */
export interface SiteConfig {
  name: string;
  /** An absolute path, file:///abs/path, or ssh://[user@]host[:port]/path. */
  url: string;
  /** Egress price of data leaving that site, USD per GB (1e9 bytes). */
  egressCost?: number;
  /** Local sites only: a simulated link rate in bytes/s, so a demo's plan matters. */
  simulateRate?: number;
  /** SSH sites: the command that runs nitro on the far side (default `nitro`). */
  remoteCommand?: string;
  /** SSH sites: identity file. */
  identity?: string;
}

const SITE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validateSiteName(name: string): string {
  if (!SITE_NAME.test(name)) throw usage(`invalid site name '${name}': 1-64 letters, digits, '.', '_', '-'`);
  return name;
}

export type SiteLocation = { kind: "local"; path: string } | { kind: "ssh"; url: string };

export function parseSiteUrl(url: string): SiteLocation {
  if (url.startsWith("ssh://")) {
    parseSshUrl(url);
    return { kind: "ssh", url };
  }
  const path = url.startsWith("file://") ? decodeURIComponent(url.slice("file://".length)) : url;
  if (!isAbsolute(path))
    throw usage(
      `site URL '${url}' must be an absolute path, file:///abs/path or ssh://[user@]host[:port]/path`,
    );
  return { kind: "local", path };
}

export class SiteRegistry {
  private readonly path: string;

  constructor(repoDir: string) {
    this.path = join(repoDir, "sites.json");
  }

  list(): SiteConfig[] {
    if (!existsSync(this.path)) return [];
    return (JSON.parse(readFileSync(this.path, "utf8")) as { sites: SiteConfig[] }).sites;
  }

  get(name: string): SiteConfig {
    const s = this.list().find((x) => x.name === name);
    if (!s) throw notFound(`no site '${name}' (see 'nitro site ls'; add one with 'nitro site add NAME URL')`);
    return s;
  }

  add(site: SiteConfig, force = false): void {
    validateSiteName(site.name);
    parseSiteUrl(site.url);
    const sites = this.list();
    if (sites.some((s) => s.name === site.name) && !force)
      throw exists(`site '${site.name}' already exists (use --force to replace it)`);
    this.save([...sites.filter((s) => s.name !== site.name), site]);
  }

  remove(name: string): void {
    this.get(name);
    this.save(this.list().filter((s) => s.name !== name));
  }

  private save(sites: SiteConfig[]): void {
    sites.sort((a, b) => a.name.localeCompare(b.name));
    writeFileAtomic(this.path, JSON.stringify({ sites }, null, 2) + "\n");
  }
}
