/**
 * What `bt-actor run` shows, run in-process against a loopback seeder: on a TTY (a fake one, replayed
 * on the terminal emulator) the progress line, messages above it, the last frame at 100.0% and a
 * summary that fits what happened (a download, data already there, a seeding run); with `-q`, only
 * errors, on a TTY and in JSON lines.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/app/cli.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { freePort } from '../support/proc.js';
import { startLocalSwarm, type LocalSwarm } from '../support/local-swarm.js';
import { Terminal, textWidth } from '../support/terminal.js';

let swarm: LocalSwarm;
let deadTrackerTorrent: string;
let runs = 0;

beforeAll(async () => {
  swarm = await startLocalSwarm({ sizeMiB: 2, seeders: 1, pieceLength: 64 * 1024 });
  // The same data, announced to a tracker that is not there (a port nobody listens on).
  const dead = `http://127.0.0.1:${await freePort()}/announce`;
  const { torrent } = await createTorrent(join(swarm.seedDir, swarm.meta.name), {
    announce: [[dead]],
    pieceLength: 64 * 1024,
    creationDate: null,
  });
  deadTrackerTorrent = join(swarm.work, 'dead-tracker.torrent');
  await writeFile(deadTrackerTorrent, torrent);
}, 60_000);
afterAll(async () => {
  await swarm?.close();
});

// eslint-disable-next-line no-control-regex
const ERASE = /\x1b\[K/g;
const fresh = () => join(swarm.work, `display-out${++runs}`);
const seeder = () => `127.0.0.1:${swarm.seeders[0]!.listener.port}`;

/**
 * `bt-actor run` in-process with a TTY: stdout, stderr and the progress line all land on one 80-column
 * emulated terminal, in order (as they would on a real one).
 */
async function runOnTty(args: string[], onFrame?: (frame: string, abort: () => void) => void) {
  const ac = new AbortController();
  const term = new Terminal(80);
  const out: string[] = [];
  const err: string[] = [];
  let ttyWrites = 0;
  const frames: string[] = [];
  const code = await main(['run', ...args, '--bind', '127.0.0.1', '--port', String(await freePort())], {
    out: (l) => {
      out.push(l);
      term.write(`${l}\n`);
    },
    err: (l) => {
      err.push(l);
      term.write(`${l}\n`);
    },
    signal: ac.signal,
    tty: (t) => {
      ttyWrites++;
      term.write(t);
      for (const f of t.split(/[\r\n]/)) {
        if (!f) continue;
        frames.push(f.replace(ERASE, ''));
        onFrame?.(f, () => ac.abort());
      }
    },
  });
  return { code, term, screen: term.screen(), out, err, ttyWrites, frames };
}

const PROGRESS = /\[[#-]+\]/;

describe('bt-actor run on a terminal', () => {
  it('a download: messages above the line (a tracker named once), the last frame at 100.0%, then the summary', async () => {
    const dir = fresh();
    const r = await runOnTty([deadTrackerTorrent, '--out', dir, '--peer', seeder()]);
    expect(r.code).toBe(0);
    expect(r.term.unknown).toEqual([]);
    // Every frame fits in 80 columns (the start line may wrap, being text; a frame may not).
    expect(r.frames.length).toBeGreaterThan(0);
    for (const f of r.frames) expect(textWidth(f)).toBeLessThan(80);
    const screen = r.screen;
    // The tracker's failure is a line of its own, its URL once.
    const tracker = screen.filter((l) => l.startsWith('tracker http://127.0.0.1:'));
    expect(tracker.length).toBeGreaterThan(0);
    for (const l of tracker) {
      expect(l.match(/http:\/\//g)).toHaveLength(1);
      expect(l).toMatch(/\[BT_ERR_TRACKER_CONNECT\]$/);
      expect(l).not.toMatch(PROGRESS);
    }
    // One progress line left on the screen: the last frame, at 100.0%, right above the summary.
    const progress = screen.filter((l) => PROGRESS.test(l));
    expect(progress, screen.join('\n')).toHaveLength(1);
    expect(progress[0]).toMatch(/^\[#{15}\] +100\.0% +2\.00 MiB\/2\.00 MiB {2}↓ /);
    const at = screen.indexOf(progress[0]!);
    expect(screen.slice(at + 1)).toEqual([
      expect.stringMatching(new RegExp(`^${swarm.meta.name}: complete → ${dir}$`)),
      expect.stringMatching(
        /^ {2}downloaded 2\.00 MiB in [\d.]+ s \([\d.]+ [KM]iB\/s\); uploaded 0 B \(ratio 0\.00\)$/,
      ),
    ]);
  });

  it('--check on data already complete: it says the data was there, with no download speed', async () => {
    const dir = fresh();
    expect((await runOnTty([swarm.quietTorrentPath, '--out', dir, '--peer', seeder()])).code).toBe(0);
    const r = await runOnTty([swarm.quietTorrentPath, '--out', dir, '--check']);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      `${swarm.meta.name}: complete → ${dir}`,
      expect.stringMatching(
        /^ {2}already on disk, checked in [\d.]+ s; nothing to download; uploaded 0 B \(ratio 0\.00\)$/,
      ),
    ]);
    expect(r.out.join('\n')).not.toMatch(/\/s\b/);
  });

  it('a seeding run says how long it seeded, what it uploaded and the ratio', async () => {
    const dir = fresh();
    const r = await runOnTty([swarm.quietTorrentPath, '--out', dir, '--peer', seeder(), '--seed-ratio', '0']);
    expect(r.code).toBe(0);
    expect(r.out[1]).toMatch(
      /^ {2}downloaded 2\.00 MiB in [\d.]+ s \([\d.]+ [KM]iB\/s\); uploaded [\d.]+ K?i?B \(ratio [\d.]+\); seeded for [\d.]+ s$/,
    );
  });

  it('stopped (Ctrl-C): the line ends where it was, then why, then how far it got', async () => {
    const dir = fresh();
    // No peers: it can only wait, until stopped.
    const r = await runOnTty([swarm.quietTorrentPath, '--out', dir], (f, abort) => f.includes('ETA --') && abort());
    expect(r.code).toBe(1);
    const screen = r.screen;
    const progress = screen.filter((l) => PROGRESS.test(l));
    expect(progress, screen.join('\n')).toHaveLength(1);
    const at = screen.indexOf(progress[0]!);
    expect(screen.slice(at, at + 2)).toEqual([
      expect.stringMatching(/^\[-{15}\] +0\.0% +0 B\/2\.00 MiB {2}↓ +0 B\/s {2}ETA -- +0 peers$/),
      'bt-actor: stopped before the download completed',
    ]);
    expect(r.out).toEqual([
      `${swarm.meta.name}: stopped at 0.0% (0 B of 2.00 MiB) → ${dir}`,
      '  nothing downloaded; uploaded 0 B (ratio 0.00)',
    ]);
  });

  it('-q: no progress line, no messages, no summary — only errors', async () => {
    const ok = await runOnTty([deadTrackerTorrent, '--out', fresh(), '--peer', seeder(), '-q']);
    expect(ok.code).toBe(0);
    expect(ok.ttyWrites).toBe(0);
    expect(ok.out).toEqual([]);
    expect(ok.err).toEqual([]);
    // A torrent that fails still says why (a folder stands where its file goes).
    const dir = fresh();
    await mkdir(join(dir, swarm.meta.name), { recursive: true });
    const failed = await runOnTty([swarm.quietTorrentPath, '--out', dir, '-q']);
    expect(failed.code).toBe(2);
    expect(failed.ttyWrites).toBe(0);
    expect(failed.out).toEqual([]);
    expect(failed.err).toEqual([expect.stringMatching(/is not a regular file \[BT_ERR_STORAGE_PATH\]$/)]);
  });
});

/** `bt-actor run ARGS --json -q` in-process: its JSON lines. */
async function runJsonQuiet(args: string[]) {
  const lines: Record<string, unknown>[] = [];
  const code = await main(['run', ...args, '--json', '-q', '--bind', '127.0.0.1', '--port', String(await freePort())], {
    out: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
    err: () => {},
  });
  return { code, lines };
}

describe('bt-actor run --json -q', () => {
  it('prints only the done line when all goes well (no progress, tracker errors or peers)', async () => {
    const r = await runJsonQuiet([deadTrackerTorrent, '--out', fresh(), '--peer', seeder()]);
    expect(r.code).toBe(0);
    expect(r.lines.map((l) => l.event)).toEqual(['done']);
    expect(r.lines[0]).toMatchObject({ complete: true, downloaded: swarm.meta.length });
  });

  it('prints the error line, then done, when the torrent fails', async () => {
    const dir = fresh();
    await mkdir(join(dir, swarm.meta.name), { recursive: true });
    const r = await runJsonQuiet([swarm.quietTorrentPath, '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.lines.map((l) => l.event)).toEqual(['error', 'done']);
    expect(r.lines[0]).toMatchObject({ code: 'BT_ERR_STORAGE_PATH' });
  });
});

describe('bt-actor run --json', () => {
  it('progress lines carry the torrent’s rates (rate, upRate); the last, at completion, says 100', async () => {
    const lines: Record<string, unknown>[] = [];
    const code = await main(
      [
        'run',
        swarm.quietTorrentPath,
        '--out',
        fresh(),
        '--peer',
        seeder(),
        '--json',
        '--bind',
        '127.0.0.1',
        '--port',
        String(await freePort()),
      ],
      { out: (l) => lines.push(JSON.parse(l) as Record<string, unknown>), err: () => {} },
    );
    expect(code).toBe(0);
    const at = lines.findIndex((l) => l.event === 'complete');
    const last = lines.slice(0, at).findLast((l) => l.event === 'progress');
    // (Byte counts and rates come with the peers' reports, once a second: a 2 MiB download can be
    // over before the first; the machine's test checks the rates' values, test/machines/torrent-rate.test.ts.)
    expect(last).toMatchObject({ percent: 100, left: 0, rate: expect.any(Number), upRate: expect.any(Number) });
  });
});
