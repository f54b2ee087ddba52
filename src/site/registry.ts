import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../store/config.js";
import { exists, notFound, usage } from "../util/errors.js";
import { validateSiteConfig } from "./kinds.js";
import type { S3SiteOptions } from "./s3/options.js";

/** What every site has, whatever its kind. */
export interface SiteEntry {
  name: string;
  /** Its kind comes from the scheme: an absolute path or file:///abs/path, ssh://[user@]host[:port]/path, s3://BUCKET[/PREFIX]. */
  url: string;
  /** Egress price of data leaving that site, USD per GB (1e9 bytes). */
  egressCost?: number;
}

/** The options of a local site (a repository directory on this machine). */
export interface LocalSiteOptions {
  /** A simulated link rate in bytes/s, so a demo's plan matters. */
  simulateRate?: number;
}

/** The options of an SSH site (`nitro serve --stdio` on the far host). */
export interface SshSiteOptions {
  /** The command that runs nitro on the far side (default `nitro`). */
  remoteCommand?: string;
  /** Identity file. */
  identity?: string;
}

/**
 * A site as sites.json stores it: the common fields and its kind's options side by side, under
 * the field names older versions wrote. Which options a site may carry depends on its kind
 * (checked by validateSiteConfig).
 */
export type SiteConfig = SiteEntry & LocalSiteOptions & SshSiteOptions & S3SiteOptions;

const SITE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validateSiteName(name: string): string {
  if (!SITE_NAME.test(name)) throw usage(`invalid site name '${name}': 1-64 letters, digits, '.', '_', '-'`);
  return name;
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

  has(name: string): boolean {
    return this.list().some((s) => s.name === name);
  }

  add(site: SiteConfig, force = false): void {
    validateSiteName(site.name);
    validateSiteConfig(site);
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
