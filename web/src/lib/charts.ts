// Time-series charts on uPlot. Bands (target ranges) and markers
// (medication changes) are drawn in uPlot's draw hook on the canvas, so no
// inline style or script is needed (CSP).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Band {
  from: number;
  to: number;
  color: string;
  label?: string;
}
export interface Marker {
  at: number; // unix seconds
  label: string;
}
export interface SeriesSpec {
  label: string;
  color: string;
  values: (number | null)[];
  points?: boolean; // points only, no line
  dash?: number[];
}

export interface ChartSpec {
  title: string;
  unit: string;
  x: number[]; // unix seconds, ascending
  series: SeriesSpec[];
  bands?: Band[];
  markers?: Marker[];
  range: [number, number]; // x range, unix seconds
  y?: [number, number];
}

export function chart(host: HTMLElement, spec: ChartSpec): uPlot {
  const width = Math.max(300, host.clientWidth || 600);
  const opts: uPlot.Options = {
    title: spec.title,
    width,
    height: 220,
    scales: {
      x: { time: true, range: () => spec.range },
      y: spec.y ? { range: () => spec.y as [number, number] } : { auto: true },
    },
    axes: [{ stroke: "#333" }, { stroke: "#333", label: spec.unit, size: 55 }],
    legend: { live: true },
    series: [
      {},
      ...spec.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        dash: s.dash,
        spanGaps: true,
        paths: s.points ? () => null : undefined,
        points: { show: true, size: s.points ? 7 : 5, stroke: s.color, fill: s.points ? s.color : "#fff" },
      })),
    ],
    hooks: {
      drawClear: [
        (u: uPlot) => {
          const ctx = u.ctx;
          const { left, top, width: w, height: hgt } = u.bbox;
          ctx.save();
          for (const b of spec.bands ?? []) {
            const y1 = u.valToPos(b.to, "y", true);
            const y2 = u.valToPos(b.from, "y", true);
            const yt = Math.max(top, Math.min(y1, y2));
            const yb = Math.min(top + hgt, Math.max(y1, y2));
            if (yb <= yt) continue;
            ctx.fillStyle = b.color;
            ctx.fillRect(left, yt, w, yb - yt);
          }
          ctx.restore();
        },
      ],
      draw: [
        (u: uPlot) => {
          const ctx = u.ctx;
          const { top, height: hgt } = u.bbox;
          ctx.save();
          ctx.strokeStyle = "#7a3e00";
          ctx.fillStyle = "#7a3e00";
          ctx.setLineDash([4, 4]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.font = `${11 * devicePixelRatio}px sans-serif`;
          for (const m of spec.markers ?? []) {
            if (m.at < spec.range[0] || m.at > spec.range[1]) continue;
            const x = u.valToPos(m.at, "x", true);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + hgt);
            ctx.stroke();
            ctx.fillText("℞ " + m.label, x + 4, top + 12 * devicePixelRatio);
          }
          ctx.restore();
        },
      ],
    },
  };
  const data: uPlot.AlignedData = [spec.x, ...spec.series.map((s) => s.values)];
  const u = new uPlot(opts, data, host);
  const ro = new ResizeObserver(() => {
    const w = host.clientWidth;
    if (w > 0 && Math.abs(w - u.width) > 4) u.setSize({ width: w, height: 220 });
  });
  ro.observe(host);
  return u;
}
