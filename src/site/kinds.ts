import { usage } from "../util/errors.js";
import { localKind } from "./kinds/local.js";
import { sshKind } from "./kinds/ssh.js";
import { s3Kind } from "./s3/kind.js";
import type { S3SiteOptions } from "./s3/options.js";
import type { LocalSiteOptions, SiteConfig, SiteEntry, SshSiteOptions } from "./registry.js";
import type { ReadSite } from "./site.js";

/** How this node reaches sites: settings of the command, not of one site. */
export interface OpenSiteOptions {
  acceptNew?: boolean;
  lockWait?: number;
  knownHostsPath?: string;
  sshConfigPath?: string;
  identityFiles?: string[];
  /**
   * Given the site as soon as requests can be written to it (SSH: its channel is open), before
   * its greeting has been checked: they wait behind the greeting and fail with it. Only
   * getRecipe and storedSizes may be asked that early. Kinds whose open is quick do not call it.
   */
  onConnected?: (site: ReadSite) => void;
  /**
   * Called once the kind has begun connecting over the network (SSH: the TCP connect is asked
   * for; S3: its first request is made), so that the command can do its local work meanwhile.
   * A local site does not call it.
   */
  onDialed?: () => void;
}

/** The per-kind option fields of sites.json, all kinds together. */
export type SiteOptionField = keyof LocalSiteOptions | keyof SshSiteOptions | keyof S3SiteOptions;

/**
 * One kind of site (local directory, SSH, later S3...): which URLs it serves, which options it
 * takes, and how it opens. `open` resolves to a WriteSite when the site accepts writes and to a
 * ReadSite only when it does not (a server that said read-only).
 */
export interface SiteKind<O extends object = object> {
  readonly name: string;
  /** The URL schemes it serves, lower case, without "://". */
  readonly schemes: readonly string[];
  /** Whether it also serves a URL without a scheme (a local site: an absolute path). */
  readonly bare?: (url: string) => boolean;
  /** Its URL forms, for messages. */
  readonly urlForm: string;
  /** Throws a usage error unless `url` is well-formed for this kind. */
  checkUrl(url: string): void;
  /** Each option field this kind takes, with the `nitro site add` flag that sets it. */
  readonly options: { readonly [K in keyof O]-?: string };
  open(cfg: SiteEntry & O, opts: OpenSiteOptions): Promise<ReadSite>;
  /** Whether a nitro repository is at the site's URL: "unknown" (with why) when it cannot tell. */
  findRepository(cfg: SiteEntry & O, opts: OpenSiteOptions): Promise<RepositoryCheck>;
  /** Creates the repository at the site's URL, its site name the site's (as `nitro init --site`). */
  initRepository(cfg: SiteEntry & O, opts: OpenSiteOptions): Promise<void>;
}

export type RepositoryCheck =
  { found: true } | { found: false; why: string } | { found: "unknown"; why: string };

export const SITE_KINDS: readonly SiteKind[] = [localKind, sshKind, s3Kind];

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/** The kind serving `url`; an unknown scheme or a relative path is a usage error. */
export function kindOf(url: string): SiteKind {
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  const kind =
    scheme === undefined
      ? SITE_KINDS.find((k) => k.bare?.(url))
      : SITE_KINDS.find((k) => k.schemes.includes(scheme));
  if (kind) return kind;
  const known = SITE_KINDS.map((k) => `${k.urlForm} (${k.name})`).join(", ");
  if (scheme === undefined) throw usage(`site URL '${url}' must be one of: ${known}`);
  throw usage(`unknown site URL scheme '${scheme}' in '${url}': known are ${known}`);
}

/** Every option field of every kind, with its flag. */
function allOptions(): Map<SiteOptionField, string> {
  return new Map(SITE_KINDS.flatMap((k) => Object.entries(k.options) as Array<[SiteOptionField, string]>));
}

/** The kind of a site's URL, the URL checked for that kind. */
export function checkSiteUrl(url: string): SiteKind {
  const kind = kindOf(url);
  kind.checkUrl(url);
  return kind;
}

/**
 * Checks a new site: its URL for its kind, and that it carries no option of another kind. (A
 * sites.json entry is not held to the latter when opened: older versions took any option.)
 */
export function validateSiteConfig(cfg: SiteConfig): SiteKind {
  const kind = checkSiteUrl(cfg.url);
  for (const [field, flag] of allOptions())
    if (cfg[field] !== undefined && !(field in kind.options))
      throw usage(`${flag} is not an option of ${kind.name} sites (${cfg.url})`);
  return kind;
}
