// A live event stream read with fetch (EventSource cannot send the bearer
// token). Reconnects after a drop with Last-Event-ID, so nothing is missed.
export interface StreamEvent {
  id: string;
  event: string;
  data: string;
}

export interface StreamHandle {
  close(): void;
}

export function openStream(
  url: string,
  token: () => string | null,
  onEvent: (e: StreamEvent) => void,
  onState: (state: "live" | "reconnecting") => void,
): StreamHandle {
  let lastId = "";
  let retryMs = 2000;
  let closed = false;
  let controller: AbortController | null = null;

  async function run(): Promise<void> {
    while (!closed) {
      controller = new AbortController();
      try {
        const headers: Record<string, string> = { Accept: "text/event-stream" };
        const tk = token();
        if (tk) headers.Authorization = `Bearer ${tk}`;
        if (lastId) headers["Last-Event-ID"] = lastId;
        const res = await fetch(url, { headers, signal: controller.signal, cache: "no-store" });
        if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status}`);
        onState("live");
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let sep: number;
          while ((sep = buf.search(/\r?\n\r?\n/)) >= 0) {
            const block = buf.slice(0, sep);
            buf = buf.slice(sep + (buf[sep] === "\r" ? 4 : 2));
            const ev: StreamEvent = { id: "", event: "message", data: "" };
            const data: string[] = [];
            for (const line of block.split(/\r?\n/)) {
              if (line.startsWith(":")) continue;
              const colon = line.indexOf(":");
              const field = colon < 0 ? line : line.slice(0, colon);
              const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (field === "id") ev.id = val;
              else if (field === "event") ev.event = val;
              else if (field === "data") data.push(val);
              else if (field === "retry" && /^\d+$/.test(val)) retryMs = Number(val);
            }
            if (ev.id) lastId = ev.id;
            if (data.length) {
              ev.data = data.join("\n");
              onEvent(ev);
            }
          }
        }
      } catch {
        // fall through to the retry
      }
      if (closed) return;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, retryMs));
    }
  }
  void run();
  return {
    close() {
      closed = true;
      controller?.abort();
    },
  };
}
