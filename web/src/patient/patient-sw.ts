// The patient page's service worker (built into dist/patient-sw.js, scope
// /patient; vite.config.ts). It precaches the page's shell — its HTML, under
// /patient, and its scripts, styles, manifest and icons — so the page opens
// with no network, and answers every navigation in its scope with that HTML.
// The API is never cached or answered here: requests to /api go to the
// network, and entries made offline wait in the page's own queue (queue.ts).
//
// Background Sync: the page registers the tag "careloop-queue" when it queues
// an entry; when the browser fires it (the network is back), this worker only
// wakes the open pages, which send with their account's token. The worker
// holds no token and sends nothing itself.
/// <reference lib="webworker" />
import { clientsClaim } from "workbox-core";
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from "workbox-precaching";
import { NavigationRoute, registerRoute } from "workbox-routing";

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<{ url: string; revision: string | null }> };
interface SyncEvent extends ExtendableEvent {
  readonly tag: string;
}

const SYNC_TAG = "careloop-queue";

self.skipWaiting();
clientsClaim();
cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);
registerRoute(new NavigationRoute(createHandlerBoundToURL("/patient")));

self.addEventListener("sync", (event: Event) => {
  const e = event as SyncEvent;
  if (e.tag !== SYNC_TAG) return;
  e.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((pages) => {
      for (const p of pages) p.postMessage({ type: "careloop:send-queue" });
    }),
  );
});
