import type { Plan } from "../plan/types.js";

/** The per-site load of a plan as an SVG bar chart: predicted seconds, with the lower bound. */
export function planSvg(plan: Plan, names: readonly string[], title: string): string {
  const w = 640;
  const barH = 28;
  const left = 110;
  const top = 40;
  const h = top + names.length * (barH + 8) + 40;
  const max = Math.max(plan.makespan, plan.lowerBound, 1e-9) * 1.1;
  const x = (s: number) => left + (s / max) * (w - left - 20);
  const esc = (t: string) => t.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const bars = names.map((n, i) => {
    const y = top + i * (barH + 8);
    const s = plan.secondsPerSite[i] ?? 0;
    return `<text x="${left - 8}" y="${y + barH / 2 + 5}" text-anchor="end">${esc(n)}</text><rect x="${left}" y="${y}" width="${x(s) - left}" height="${barH}" fill="#4a7fb5"/><text x="${x(s) + 4}" y="${y + barH / 2 + 5}">${s.toFixed(2)} s, ${(plan.bytesPerSite[i]! / 1e6).toFixed(1)} MB</text>`;
  });
  const lb = x(plan.lowerBound);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="13">
<text x="${left}" y="22" font-weight="bold">${esc(title)}</text>
${bars.join("\n")}
<line x1="${lb}" y1="${top - 6}" x2="${lb}" y2="${h - 30}" stroke="#c33" stroke-dasharray="4 3"/>
<text x="${lb}" y="${h - 12}" fill="#c33" text-anchor="middle">lower bound ${plan.lowerBound.toFixed(2)} s (makespan ${plan.makespan.toFixed(2)} s)</text>
</svg>
`;
}
