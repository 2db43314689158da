// Two entry points: the doctor's dashboard (index.html, served at /) and the
// patient page (patient.html, served at /patient). Every emitted file but
// the HTML lives in assets/ with a content hash in its name: careloop serve
// marks exactly those immutable (server/static_files.hpp).
import { resolve } from "node:path";
import { defineConfig } from "vite";

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
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
