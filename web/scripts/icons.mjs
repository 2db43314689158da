#!/usr/bin/env node
// Draws the patient page's app icons (web/public/icons/*.png): a white heart on
// the page's theme blue, with no artwork from elsewhere. Run it again only to
// change them: `node scripts/icons.mjs` (the PNGs are committed).
//   icon-192.png, icon-512.png        purpose "any": the heart fills ~62%
//   maskable-192.png, maskable-512.png purpose "maskable": the heart stays in
//                                      the central safe circle (40% radius)
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "public", "icons");
const BLUE = [0x0b, 0x53, 0x94];
const WHITE = [0xff, 0xff, 0xff];

// Inside the heart curve (x² + y² − 1)³ − x²y³ ≤ 0, x in [-1.2, 1.2], y up.
function inHeart(x, y) {
  const a = x * x + y * y - 1;
  return a * a * a - x * x * y * y * y <= 0;
}

function draw(size, scale) {
  const px = Buffer.alloc(size * size * 4);
  const S = 4; // 4×4 samples per pixel
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      let hit = 0;
      for (let sj = 0; sj < S; sj++)
        for (let si = 0; si < S; si++) {
          // Centre, then map so the heart's width (2.3) spans `scale` of the icon.
          const u = ((i + (si + 0.5) / S) / size - 0.5) * (2.3 / scale);
          const v = -(((j + (sj + 0.5) / S) / size - 0.5) * (2.3 / scale)) + 0.1;
          if (inHeart(u, v)) hit++;
        }
      const f = hit / (S * S);
      const o = (j * size + i) * 4;
      for (let c = 0; c < 3; c++) px[o + c] = Math.round(BLUE[c] * (1 - f) + WHITE[c] * f);
      px[o + 3] = 255;
    }
  }
  return png(size, px);
}

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(buf) {
  let c = -1;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

mkdirSync(out, { recursive: true });
for (const size of [192, 512]) {
  writeFileSync(join(out, `icon-${size}.png`), draw(size, 0.62));
  writeFileSync(join(out, `maskable-${size}.png`), draw(size, 0.5));
}
console.log(`icons written to ${out}`);
