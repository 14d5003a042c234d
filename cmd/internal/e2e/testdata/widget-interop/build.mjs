// Bundles microsoft.mjs for the browser with esbuild (pinned in
// package-lock.json): node build.mjs OUTFILE.
//
// Two resolutions differ from a plain bundle, so that only the code paths
// under test are loaded and the widget's React tree is not:
//   - "@microsoft/omnichannel-chat-components" (its index is the React UI)
//     resolves to the package's own services/BroadcastService.js, the only
//     export FacadeChatSDK and its telemetry helper use;
//   - that module's helper file imports the package index again for
//     decodeComponentString, which BroadcastService never calls: it becomes
//     a function that throws, so a call would fail the test loudly.
// The SDK is CommonJS, so esbuild would pick the packages' Node builds for
// its require() calls (@azure/communication-common's needs Node's crypto);
// mainFields puts each package's browser build first, as webpack does. And
// @microsoft/ocsdk reads Node's `global`, which webpack 4 provided in
// browsers as the window: globalThis is that.
import * as esbuild from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const components = path.join(here, "node_modules/@microsoft/omnichannel-chat-components/lib/esm");

const onlyWhatRuns = {
  name: "only-what-runs",
  setup(build) {
    build.onResolve({ filter: /^@microsoft\/omnichannel-chat-components$/ }, () => ({
      path: path.join(components, "services/BroadcastService.js"),
    }));
    build.onResolve({ filter: /^\.\.$/ }, (args) =>
      args.importer === path.join(components, "common/utils.js") ? { path: "components-index", namespace: "left-out" } : undefined);
    build.onLoad({ filter: /.*/, namespace: "left-out" }, () => ({
      contents: "export function decodeComponentString() { throw new Error('decodeComponentString is left out of the interop bundle'); }",
    }));
  },
};

await esbuild.build({
  entryPoints: [path.join(here, "microsoft.mjs")],
  outfile: process.argv[2],
  bundle: true,
  format: "iife",
  platform: "browser",
  mainFields: ["browser", "module", "main"],
  define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
  logLevel: "warning",
  plugins: [onlyWhatRuns],
});
