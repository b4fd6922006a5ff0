#!/usr/bin/env node
// Prints a bench result file as Markdown, for docs/performance.md:
//   node bench/markdown.mjs [bench/results/latest.json]
// Handles the main bench (tables per case), --flat and --scale results.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RESULTS, caseMarkdown } from './lib/report.mjs';

const file = process.argv[2] ?? fileURLToPath(new URL('latest.json', `file://${RESULTS}`));
const r = JSON.parse(readFileSync(file, 'utf8'));
const out = [];
out.push(
  `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC, bt-actor ${r.commit}, ${r.mode ?? r.kind}` +
    (r.seconds ? `, ${r.seconds} s` : '') +
    `; load average ${r.machine.loadavg_at_start?.[0]} at the start${r.machine.loadavg_at_end ? `, ${r.machine.loadavg_at_end[0]} at the end` : ''}.`,
);
for (const c of r.cases ?? []) {
  const runs = Math.max(...c.rows.map((x) => x.median?.runs ?? 0));
  out.push(`\n**${c.label}** — ${(c.pieceLength / 1024).toLocaleString('en-US')} KiB pieces, median of ${runs}\n`);
  out.push(caseMarkdown(c));
}
if (r.flat) {
  out.push(`\n| size | bt-actor MiB/s | bt-actor peak RSS MB |\n|---:|---:|---:|`);
  for (const s of r.flat.sizes)
    out.push(`| ${s.mib >= 1024 ? `${s.mib / 1024} GiB` : `${s.mib} MiB`} | ${s.mib_s} | ${s.maxrss_mb} |`);
  out.push(
    `\nGrowth ×${r.flat.growth} (${r.flat.flat ? 'flat' : 'not flat'}: the target is at most ×1.2), ${r.flat.under_150_mb ? 'within' : 'over'} 150 MB.`,
  );
}
if (r.torrents) {
  const a = r.torrents;
  out.push(`\n| (a) ${a.torrents} torrents × ${a.torrent_kib} KiB, seeding, idle ${a.idle_s} s | value |\n|---|---:|`);
  out.push(
    `| RSS (MB) | ${a.idle.rss_mb} |`,
    `| RSS after a forced GC (MB) | ${a.after_gc?.rss_mb ?? '–'} |`,
    `| engine alone, before adding (MB) | ${a.engine_only.rss_mb} |`,
  );
  out.push(
    `| V8 heap used (MB) | ${a.idle.heap_used_mb} |`,
    `| all added (s) / all seeding (s) | ${a.add_s} / ${a.ready_s} |`,
    `| CPU while idle (s in ${a.idle_s} s) | ${a.idle_cpu_s} |`,
    `| event-loop delay max while idle (ms) | ${a.idle_event_loop.max_ms} |`,
  );
}
if (r.peers) {
  const b = r.peers;
  out.push(`\n| (b) ${b.peers} peers on one ${b.torrent_mib} MiB torrent, ${b.seconds} s | value |\n|---|---:|`);
  out.push(
    `| event-loop delay max (ms) | ${b.event_loop.max_ms} |`,
    `| event-loop delay p99 / p50 (ms) | ${b.event_loop.p99_ms} / ${b.event_loop.p50_ms} |`,
    `| while the peers connected: max (ms) | ${b.ramp_event_loop.max_ms} |`,
  );
  out.push(
    `| peers connected (engine's count) | ${b.peers_connected_min}–${b.peers_connected_max} |`,
    `| peer states | ${Object.entries(b.peer_states)
      .filter(([, n]) => n)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')} |`,
  );
  out.push(
    `| upload (MiB/s) | ${b.uploaded_mib_s} |`,
    `| engine CPU (s) / event-loop utilisation | ${b.cpu_s} / ${b.elu} |`,
    `| RSS (MB) | ${b.memory.rss_mb} |`,
  );
}
const targets = (r.targets ?? []).map(
  (t) =>
    `- ${t.case ? `case ${t.case}: ` : ''}${t.target}: ${t.value} — ${t.met === null ? 'n/a' : t.met ? 'met' : '**not met**'}`,
);
if (targets.length) out.push('', ...targets);
console.log(out.join('\n'));
