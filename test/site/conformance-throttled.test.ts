import { LocalSite } from "../../src/site/local.js";
import { ThrottledSite } from "../../src/site/throttled.js";
import { tempDir } from "../helpers/data.js";
import { newStore } from "../helpers/sites.js";
import { describeSiteConformance } from "./conformance.js";

// Slow enough that frames are actually paced, fast enough for the suite's few MiB per test.
const RATE = 50 * 1024 * 1024;

describeSiteConformance("ThrottledSite around a LocalSite", async () => {
  const t = tempDir("nitro-conf-throttled-");
  return {
    site: new ThrottledSite(new LocalSite("lyon", newStore(t.dir, "lyon")), RATE),
    cleanup: async () => t.cleanup(),
  };
});
