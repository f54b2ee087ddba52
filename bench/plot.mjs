#!/usr/bin/env node
// bench/plot.mjs - a plain SVG bar chart from a TSV on stdin (no plotting library).
//
// usage: node bench/plot.mjs OUT.svg "TITLE" "UNIT" < data.tsv
//   data.tsv: a header row (label, then one name per series), then one row per bar group:
//   a label and one value per series. Bars are horizontal, one per series in each group; a value
//   that is not a number is drawn as "n/a". A line "#mark VALUE TEXT" adds a dashed reference line.
import { readFileSync, writeFileSync } from "node:fs";

const [out, title = "", unit = ""] = process.argv.slice(2);
if (!out) {
  console.error('usage: node bench/plot.mjs OUT.svg "TITLE" "UNIT" < data.tsv');
  process.exit(2);
}
const lines = readFileSync(0, "utf8")
  .split("\n")
  .filter((l) => l.trim() !== "");
const marks = lines
  .filter((l) => l.startsWith("#mark "))
  .map((l) => {
    const [, v, ...text] = l.split(" ");
    return { value: Number(v), text: text.join(" ") };
  });
const table = lines.filter((l) => !l.startsWith("#")).map((l) => l.split("\t"));
const [header, ...rows] = table;
if (!header || rows.length === 0) {
  console.error("plot.mjs: no data");
  process.exit(2);
}
const series = header.slice(1);
const colors = ["#3b6ea8", "#d98b2b", "#5a9e4b", "#a84b6e", "#7a6bb0", "#888888"];
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const num = (s) => (s !== undefined && s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : undefined);

const values = rows.flatMap((r) => r.slice(1).map(num)).filter((v) => v !== undefined);
const max = Math.max(...values, ...marks.map((m) => m.value), 1e-9);
const labelW = Math.min(320, 10 + 7 * Math.max(...rows.map((r) => r[0].length)));
const plotW = 460;
const bar = 14;
const groupH = series.length * bar + 10;
const top = 40 + (series.length > 1 ? 18 : 0);
const height = top + rows.length * groupH + 30;
const width = labelW + plotW + 90;
const x = (v) => labelW + (v / max) * plotW;
const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

const parts = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
  `<rect width="100%" height="100%" fill="white"/>`,
  `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
];
series.forEach((s, i) => {
  if (series.length < 2) return;
  const lx = labelW + i * 130;
  parts.push(`<rect x="${lx}" y="${top - 22}" width="10" height="10" fill="${colors[i % colors.length]}"/>`);
  parts.push(`<text x="${lx + 14}" y="${top - 13}">${esc(s)}</text>`);
});
rows.forEach((r, g) => {
  const y0 = top + g * groupH;
  parts.push(
    `<text x="${labelW - 6}" y="${y0 + (series.length * bar) / 2 + 4}" text-anchor="end">${esc(r[0])}</text>`,
  );
  series.forEach((_, i) => {
    const v = num(r[i + 1]);
    const y = y0 + i * bar;
    if (v === undefined) {
      parts.push(`<text x="${labelW + 4}" y="${y + bar - 3}" fill="#888">n/a</text>`);
      return;
    }
    const w = Math.max(1, x(v) - labelW);
    parts.push(
      `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${colors[i % colors.length]}"/>`,
    );
    parts.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${y + bar - 3}">${fmt(v)}</text>`);
  });
});
for (const m of marks) {
  const mx = x(m.value).toFixed(1);
  parts.push(
    `<line x1="${mx}" y1="${top - 4}" x2="${mx}" y2="${height - 24}" stroke="#c00" stroke-dasharray="4 3"/>`,
  );
  parts.push(`<text x="${mx}" y="${height - 10}" fill="#c00" text-anchor="middle">${esc(m.text)}</text>`);
}
parts.push(`<line x1="${labelW}" y1="${top - 4}" x2="${labelW}" y2="${height - 24}" stroke="#444"/>`);
parts.push(
  `<text x="${labelW + plotW}" y="${height - 10}" text-anchor="end" fill="#444">${esc(unit)}</text>`,
);
parts.push("</svg>");
writeFileSync(out, parts.join("\n") + "\n");
