// Two entry points: the doctor's dashboard (index.html, served at /) and the
// patient page (patient.html, served at /patient). Every emitted file but
// the HTML lives in assets/ with a content hash in its name: careloop serve
// marks exactly those immutable (server/static_files.hpp).
//
// The patient page is also an installable offline app: public/ holds its web
// app manifest (patient.webmanifest) and icons (scripts/icons.mjs draws
// them), copied to dist/ as they are; vite-plugin-pwa builds its service
// worker from src/patient/patient-sw.ts into dist/patient-sw.js (Workbox,
// injectManifest) with the list of files to precache: the patient page's
// HTML under the URL it is served at (/patient), the assets, the manifest and
// the icons. The dashboard's HTML is not precached (it needs no offline use),
// and nothing is injected into either page: the manifest is linked from
// patient.html only and src/patient/main.ts registers the worker.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defineConfig } from "vite";
import { VitePWA } from "vite-plugin-pwa";

// The assets the built patient page loads: what its HTML names, and what those
// scripts import (statically or dynamically), followed to the end.
function patientAssets(): Set<string> {
  const dist = resolve(__dirname, "dist");
  const found = new Set<string>();
  const visit = (file: string) => {
    if (found.has(file)) return;
    found.add(file);
    if (!file.endsWith(".js")) return;
    const js = readFileSync(resolve(dist, file), "utf8");
    for (const m of js.matchAll(/(?:from|import)\s*\(?\s*"\.\/([^"]+)"/g)) visit(`assets/${m[1]}`);
  };
  for (const m of readFileSync(resolve(dist, "patient.html"), "utf8").matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g))
    visit(m[1]);
  return found;
}

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2020",
    // No inline scripts or styles: the CSP forbids them.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        index: resolve(__dirname, "index.html"),
        patient: resolve(__dirname, "patient.html"),
      },
      output: {
        entryFileNames: "assets/[name]-[hash].js",
        chunkFileNames: "assets/[name]-[hash].js",
        assetFileNames: "assets/[name]-[hash][extname]",
      },
    },
  },
  plugins: [
    VitePWA({
      strategies: "injectManifest",
      srcDir: "src/patient",
      filename: "patient-sw.ts",
      injectRegister: false,
      manifest: false,
      injectManifest: {
        rollupFormat: "iife",
        globPatterns: ["patient.html", "assets/*.{js,css}", "patient.webmanifest", "icons/*.png"],
        // Hashed names change with their content: no revision needed.
        dontCacheBustURLsMatching: /^assets\//,
        manifestTransforms: [
          // patient.html is served at /patient; the dashboard's own assets are left out.
          async (entries) => {
            const wanted = patientAssets();
            return {
              manifest: entries
                .filter((e) => !e.url.startsWith("assets/") || wanted.has(e.url))
                .map((e) => (e.url === "patient.html" ? { ...e, url: "/patient" } : e)),
              warnings: [],
            };
          },
        ],
      },
    }),
  ],
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
