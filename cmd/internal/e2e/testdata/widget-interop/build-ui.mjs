// Bundles widget-ui.mjs, the widget's whole React UI, for the browser with
// esbuild (pinned in package-lock.json): node build-ui.mjs OUTFILE.
//
// Web Chat imports three "-es5" packages (abort-controller-es5,
// markdown-it-attrs-es5, p-defer-es5) whose published entry points are
// built by their own postinstall scripts, which `npm ci --ignore-scripts`
// does not run; their sources (src/index.mjs, shipped in the package)
// re-export the ES2015+ packages they wrap, which Chromium runs as they
// are. The rest is as in build.mjs: each package's browser build first,
// and `global` as globalThis.
import * as esbuild from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

const es5Sources = {
  name: "es5-sources",
  setup(build) {
    build.onResolve({ filter: /^(abort-controller|markdown-it-attrs|p-defer)-es5$/ }, (args) => ({
      path: path.join(here, "node_modules", args.path, "src/index.mjs"),
    }));
  },
};

await esbuild.build({
  entryPoints: [path.join(here, "widget-ui.mjs")],
  outfile: process.argv[2],
  bundle: true,
  format: "iife",
  platform: "browser",
  minify: true,
  mainFields: ["browser", "module", "main"],
  define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
  logLevel: "warning",
  plugins: [es5Sources],
});
