import { LocalSite } from "../../src/site/local.js";
import { tempDir } from "../helpers/data.js";
import { newStore } from "../helpers/sites.js";
import { describeSiteConformance } from "./conformance.js";

describeSiteConformance("LocalSite", async () => {
  const t = tempDir("nitro-conf-local-");
  return {
    site: new LocalSite("lyon", newStore(t.dir, "lyon")),
    cleanup: async () => t.cleanup(),
  };
});
