import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { makeS3Client } from "../../src/site/s3/client.js";
import { S3Site } from "../../src/site/s3/site.js";
import { tempDir } from "../helpers/data.js";
import { startSwift, type SwiftInstance } from "../helpers/swift.js";
import { describeSiteConformance } from "./conformance.js";

let swift: SwiftInstance;

beforeAll(async () => {
  swift = await startSwift();
  // The site finds its credentials the standard way (the SDK's default chain).
  Object.assign(process.env, swift.env());
}, 90_000);

afterAll(async () => {
  await swift?.stop();
});

describeSiteConformance("S3Site on Swift's s3api", async () => {
  const t = tempDir("nitro-conf-s3-");
  const bucket = await swift.newBucket("conf");
  const site = await S3Site.open("oslo", {
    client: makeS3Client({ endpoint: swift.endpoint, pathStyle: true }),
    location: { bucket, prefix: "nitro/" },
    cacheDir: join(t.dir, "cache"),
  });
  return { site, cleanup: async () => t.cleanup() };
});
