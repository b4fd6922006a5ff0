/**
 * `--report FILE.html`: a self-contained page (inline SVG, no script) with each node's completion over
 * virtual time and the bytes each node uploaded and downloaded, so fairness can be looked at.
 */
import { writeFile } from 'node:fs/promises';
import type { ScenarioResult } from './scenario.js';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function reportHtml(r: ScenarioResult): string {
  const { sim } = r;
  const nodes = sim.nodes;
  const end = Math.max(1, sim.clock.now());
  const W = 760;
  const H = 300;
  const x = (t: number) => 40 + (t / end) * (W - 60);
  const y = (f: number) => H - 30 - f * (H - 50);
  const lines = nodes
    .filter((n) => n.progress.length > 0)
    .map((n, i) => {
      const total = n.handle.meta?.pieceCount ?? 1;
      const pts = [[n.startedAt, 0] as [number, number], ...n.progress].map(
        ([t, p]) => `${x(t).toFixed(1)},${y(p / total).toFixed(1)}`,
      );
      const hue = (i * 137) % 360;
      return `<polyline fill="none" stroke="hsl(${hue} 60% 45%)" stroke-width="1" points="${pts.join(' ')}"><title>${esc(n.label)}</title></polyline>`;
    })
    .join('\n');
  const up = new Map<string, number>();
  const down = new Map<string, number>();
  for (const [pair, bytes] of sim.net.delivered) {
    const [from, to] = pair.split('>') as [string, string];
    up.set(from, (up.get(from) ?? 0) + bytes);
    down.set(to, (down.get(to) ?? 0) + bytes);
  }
  const max = Math.max(1, ...up.values(), ...down.values());
  const barH = 14;
  const bars = nodes
    .map((n, i) => {
      const u = up.get(n.host) ?? 0;
      const d = down.get(n.host) ?? 0;
      const yy = 20 + i * (barH + 4);
      return `<text x="0" y="${yy + 11}" font-size="10">${esc(n.label)}</text>
<rect x="110" y="${yy}" width="${((u / max) * 300).toFixed(1)}" height="${barH / 2}" fill="#c0392b"><title>up ${u} B</title></rect>
<rect x="110" y="${yy + barH / 2}" width="${((d / max) * 300).toFixed(1)}" height="${barH / 2}" fill="#2471a3"><title>down ${d} B</title></rect>
<text x="${115 + 300}" y="${yy + 11}" font-size="10">up ${(u / 2 ** 20).toFixed(1)} MiB · down ${(d / 2 ** 20).toFixed(1)} MiB</text>`;
    })
    .join('\n');
  const figures = Object.entries(r.figures)
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(String(v))}</td></tr>`)
    .join('');
  return `<!doctype html><meta charset="utf-8"><title>sim ${esc(r.name)} seed ${r.seed}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}td{padding:0 1em 0 0}</style>
<h1>sim ${esc(r.name)} · seed ${r.seed} · ${r.nodes} nodes · ${r.ok ? 'ok' : 'FAILED'}</h1>
<p>trace ${r.trace} · virtual ${(end / 1000).toFixed(1)} s</p>
<table>${figures}</table>
<h2>Completion over virtual time (one line per node)</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" style="border:1px solid #ccc">
<line x1="40" y1="${y(0)}" x2="${W - 20}" y2="${y(0)}" stroke="#999"/><line x1="40" y1="${y(0)}" x2="40" y2="${y(1)}" stroke="#999"/>
<text x="40" y="${H - 10}" font-size="10">0 s</text><text x="${W - 60}" y="${H - 10}" font-size="10">${(end / 1000).toFixed(0)} s</text>
<text x="2" y="${y(1) + 4}" font-size="10">100%</text>
${lines}
</svg>
<h2>Uploaded (red) and downloaded (blue) per node</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${30 + nodes.length * (barH + 4)}">
${bars}
</svg>
`;
}

/** Writes the page, or (a path ending in `.svg`) the two charts alone as one SVG picture. */
export async function writeReport(path: string, r: ScenarioResult): Promise<void> {
  await writeFile(path, path.endsWith('.svg') ? reportSvg(r) : reportHtml(r));
}

/** The two charts of {@link reportHtml} stacked in one standalone SVG (for docs). */
export function reportSvg(r: ScenarioResult): string {
  const html = reportHtml(r);
  const svgs = [...html.matchAll(/<svg [^>]*>([\s\S]*?)<\/svg>/g)];
  const [a, b] = svgs.map((m) => m[1] ?? '');
  const h1 = Number(/height="(\d+)"/.exec(svgs[0]?.[0] ?? '')?.[1] ?? 300);
  const h2 = Number(/height="(\d+)"/.exec(svgs[1]?.[0] ?? '')?.[1] ?? 300);
  const title = `sim ${r.name} seed ${r.seed}, ${r.nodes} nodes: completion over virtual time (top); uploaded (red) and downloaded (blue) per node`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="760" height="${h1 + h2 + 40}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="4" y="16" font-size="12">${esc(title)}</text>
<g transform="translate(0,24)">${a}</g>
<g transform="translate(0,${h1 + 34})">${b}</g>
</svg>
`;
}
