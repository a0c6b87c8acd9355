// Bundles the browser build (window.MirubatoSync) that the debug component embeds. The file is
// written only when its content changes: cargo rebuilds the debug component whenever the file's
// modification time moves, so an identical bundle must leave it untouched.
import { build } from "esbuild";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

const outfile = "dist/browser/sync-client.js";
const result = await build({
  entryPoints: ["src/browser.ts"],
  bundle: true,
  format: "iife",
  target: "es2020",
  write: false,
  outfile,
});
const bundle = result.outputFiles[0].contents;
const previous = await readFile(outfile).catch(() => null);
if (previous === null || !Buffer.from(bundle).equals(previous)) {
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, bundle);
}
