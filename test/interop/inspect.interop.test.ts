/**
 * The inspector page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
 * during a real loopback download: `bt-actor run … --inspect` leeches from bt-actor seeders (and
 * aria2 and Transmission when installed), each behind a throttling proxy so the download lasts long
 * enough to watch, one of them cutting its connections now and then so peers leave and come back.
 * The page must list the peers, show states changing, draw the piece map with the torrent's counts,
 * speak BitTorrent (no `xstate.` anywhere until "Show XState details" is ticked) and fit 1400 and
 * 1024 px wide windows without horizontal scrolling; screenshots at both widths are saved to
 * docs/images/inspector.png (1400 px) and docs/images/inspector-1024.png (the ones docs/inspect.md
 * shows) and as test artifacts.
 */
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, jsonLines, startProcess, type Proc } from '../support/proc.js';
import { startLocalSwarm, type LocalSwarm } from '../support/local-swarm.js';
import { aria2Seeder, transmissionSeeder, type Seeder } from '../support/seeders.js';
import { throttleProxy } from '../support/throttle-proxy.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM)
  console.warn(`inspector browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/bt-actor.js');
const SCREENSHOT = join(ROOT, 'docs/images/inspector.png');
const SCREENSHOT_1024 = join(ROOT, 'docs/images/inspector-1024.png');
const ARTIFACTS = process.env.BT_TEST_ARTIFACTS ?? join(tmpdir(), 'bt-actor-artifacts');
const KiB = 1024;
const MiB = 1024 * 1024;
/** The whole test, browser and download included, ends within this. */
const BOUND_MS = 150_000;

let swarm: LocalSwarm | undefined;
let leecher: Proc | undefined;
let browserServer: BrowserServer | undefined;
let browser: Browser | undefined;
const clients: Seeder[] = [];

afterAll(async () => {
  await browser?.close().catch(() => {});
  if (browserServer) {
    const pid = browserServer.process().pid;
    await browserServer.close().catch(() => {});
    // Playwright starts Chromium in its own process group: end whatever of it is left, by PID.
    if (pid !== undefined) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }
  await leecher?.stop();
  for (const c of clients) await c.stop();
  await swarm?.close();
});

// The page's DOM as far as the callbacks run in the page use it (this file compiles without the DOM lib).
interface El {
  textContent: string | null;
  innerText: string;
  scrollWidth: number;
  clientWidth: number;
  tagName: string;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
  width: number;
  height: number;
  dataset: Record<string, string | undefined>;
  classList: { contains(c: string): boolean };
  querySelector(s: string): El | null;
  getAttribute(n: string): string | null;
}
declare const document: {
  querySelector(s: string): El | null;
  querySelectorAll(s: string): ArrayLike<El> & Iterable<El>;
  documentElement: El;
  body: El;
};

/** Elements wider than their box (each would scroll sideways), the page itself first. */
async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const d = document.documentElement;
    if (d.scrollWidth > d.clientWidth) out.push(`page: ${d.scrollWidth} > ${d.clientWidth}`);
    for (const el of document.querySelectorAll('section, table, .chart, dl.ctx, .pieces'))
      if (el.scrollWidth > el.clientWidth + 1)
        out.push(
          `${el.tagName.toLowerCase()}.${el.getAttribute('class') ?? ''}: ${el.scrollWidth} > ${el.clientWidth}`,
        );
    return out;
  });
}

/** The download rate of the header's `↓ 3.2 MiB/s · ↑ –`, in bytes/s. */
function parseRate(text: string): number {
  const m = /↓\s*([\d.]+)\s*(B|KiB|MiB|GiB)\/s/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB'].indexOf(m[2]!);
}

/** The piece map as drawn, and the torrent's progress as the header has it. */
async function pieces(page: Page) {
  return page.evaluate(() => {
    const m = document.querySelector('[data-testid=piece-map]');
    const p = document.querySelector('[data-testid=progress]');
    const canvas = document.querySelector('[data-testid=piece-map] canvas');
    // Pixels drawn in the done colour (rgb(22,163,74)) and in any colour.
    let done = 0;
    let drawn = 0;
    if (canvas && canvas.width > 0 && canvas.height > 0) {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3]! === 0) continue;
        drawn++;
        if (data[i] === 22 && data[i + 1] === 163 && data[i + 2] === 74) done++;
      }
    }
    const n = (el: El | null, k: string) => Number(el?.dataset[k] ?? Number.NaN);
    return {
      count: n(m, 'count'),
      done: n(m, 'done'),
      progress: n(m, 'progress'),
      missing: n(m, 'missing'),
      verified: n(p, 'verified'),
      pieceCount: n(p, 'pieces'),
      drawnPixels: drawn,
      donePixels: done,
    };
  });
}

/** What the page shows, read from its DOM (only generic attributes: no state names). */
interface Seen {
  connection: string;
  percent: number;
  torrentState: string;
  peers: { id: string; address: string; client: string; state: string; ended: boolean; requests: number }[];
}

async function look(page: Page): Promise<Seen> {
  return page.evaluate(() => {
    const text = (el: El | null | undefined) => el?.textContent?.trim() ?? '';
    return {
      connection: text(document.querySelector('[data-testid=connection]')),
      percent: Number.parseFloat(text(document.querySelector('[data-testid=percent]'))) || 0,
      torrentState: text(document.querySelector('tr.row[data-machine=torrent] [data-testid=state]')),
      peers: [...document.querySelectorAll('table.peers tr.row')].map((r) => ({
        id: r.dataset.actor ?? '',
        address: r.dataset.peer ?? '',
        client: text(r.querySelector('.client')),
        state: r.querySelector('[data-testid=peer-state]')?.getAttribute('data-state') ?? '',
        ended: r.classList.contains('ended'),
        requests: Number(text(r.querySelector('[data-testid=requests]'))) || 0,
      })),
    };
  });
}

describe.skipIf(!HAVE_CHROMIUM)('the inspector page in Chromium during a real download', () => {
  it(
    'lists the peers as they come and go, shows their states changing, and is captured in a screenshot',
    async () => {
      const started = Date.now();
      const left = () => BOUND_MS - (Date.now() - started);
      // Three bt-actor seeders behind throttles (~3 MiB/s in all); the third cuts its connections.
      swarm = await startLocalSwarm({
        sizeMiB: 64,
        seeders: 3,
        pieceLength: 256 * KiB,
        throttle: [1.25 * MiB, 1 * MiB, 0.75 * MiB],
        dropAfterMs: [undefined, undefined, 7000],
      });
      // Real clients too when installed (the interop suite's): their names come from their peer ids.
      const expectClients = [/^bt-actor 0\.1/];
      if (existsSync('/usr/bin/aria2c')) {
        const seeder = await aria2Seeder(swarm.quietTorrentPath, swarm.seedDir, await freePort());
        clients.push(seeder);
        const proxy = await throttleProxy(seeder.port, { bytesPerSecond: 0.75 * MiB });
        swarm.proxies.push(proxy);
        await swarm.announce(proxy.port);
        expectClients.push(/^aria2 /);
      }
      if (existsSync('/usr/bin/transmission-cli')) {
        const seeder = await transmissionSeeder(swarm.quietTorrentPath, swarm.seedDir, await freePort(), swarm.work);
        clients.push(seeder);
        const proxy = await throttleProxy(seeder.port, { bytesPerSecond: 0.5 * MiB });
        swarm.proxies.push(proxy);
        await swarm.announce(proxy.port);
        expectClients.push(/^Transmission /);
      }

      const out = join(swarm.work, 'download');
      leecher = startProcess(process.execPath, [
        BIN,
        'run',
        swarm.torrentPath,
        '--out',
        out,
        '--json',
        '--port',
        String(await freePort()),
        '--bind',
        '127.0.0.1',
        '--inspect',
        '--inspect-port',
        '0',
      ]);
      // The CLI's per-second progress lines, with when they arrived: the rate the CLI counts.
      const progressAt: { t: number; downloaded: number }[] = [];
      const lines = jsonLines(leecher.child.stdout!, (l) => {
        if (l.event === 'progress') progressAt.push({ t: Date.now(), downloaded: Number(l.downloaded) });
      });
      const exited = new Promise<number | null>((resolve) => leecher!.child.once('exit', (code) => resolve(code)));
      let url: string | undefined;
      while (!url && left() > 0 && leecher.child.exitCode === null) {
        url = lines.find((l) => l.event === 'inspect')?.url as string | undefined;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(url, leecher.output()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

      browserServer = await chromium.launchServer({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
        timeout: 30_000,
      });
      browser = await chromium.connect(browserServer.wsEndpoint());
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, deviceScaleFactor: 1 });
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(url!);
      await page.waitForSelector('[data-testid=connection]:has-text("live")', { timeout: 10_000 });

      // Watch until the download ends.
      const states = new Map<string, Set<string>>();
      const torrentStates = new Set<string>();
      const peerIds = new Set<string>();
      const clientNames = new Set<string>();
      let maxActive = 0;
      let sawLeave = false;
      let shot = false;
      let logTransitions = 0;
      let activeBoxes = 0;
      const overflow: Record<number, string[]> = {};
      let defaultText = '';
      let xstateText = '';
      let midMap: Awaited<ReturnType<typeof pieces>> | undefined;
      let headerRate = Number.NaN;
      let cliRate = Number.NaN;
      const observe = (s: Seen) => {
        if (s.torrentState) torrentStates.add(s.torrentState);
        maxActive = Math.max(maxActive, s.peers.filter((p) => !p.ended).length);
        for (const p of s.peers) {
          peerIds.add(p.id);
          if (p.client && p.client !== '…') clientNames.add(p.client);
          if (p.ended) sawLeave = true;
          const set = states.get(p.id) ?? new Set<string>();
          set.add(p.state);
          states.set(p.id, set);
        }
      };
      while (leecher.child.exitCode === null && left() > 15_000) {
        const s = await look(page);
        observe(s);
        const busy = s.peers.filter((p) => !p.ended && p.requests > 0);
        if (!shot && s.percent >= 35 && busy.length >= 3) {
          // Select the busiest peer: its statechart, context and log fill the right-hand side.
          const pick = busy.sort((a, b) => b.requests - a.requests)[0]!;
          await page.click(`table.peers tr.row[data-actor="${pick.id}"]`);
          await page.waitForSelector(`[data-testid=details][data-actor="${pick.id}"]`, { timeout: 5000 });
          await page.waitForFunction(
            () => document.querySelectorAll('[data-testid=log] tr.tr').length >= 3,
            undefined,
            { timeout: 5000 },
          );
          await new Promise((r) => setTimeout(r, 1500)); // the flash of the latest transition fades
          activeBoxes = await page.locator('.chart .st[data-active=true]').count();
          logTransitions = await page.locator('[data-testid=log] tr.tr').count();
          midMap = await pieces(page);
          // The header's download rate against the CLI's progress lines over the same last 5 s.
          headerRate = parseRate(
            await page.evaluate(() => document.querySelector('[data-testid=rates]')?.textContent ?? ''),
          );
          const last = progressAt[progressAt.length - 1];
          const first = progressAt[Math.max(0, progressAt.length - 6)];
          if (last && first && last.t > first.t)
            cliRate = ((last.downloaded - first.downloaded) * 1000) / (last.t - first.t);
          defaultText = await page.evaluate(() => document.body.innerText);
          overflow[1400] = await overflowing(page);
          await mkdir(ARTIFACTS, { recursive: true });
          await mkdir(join(ROOT, 'docs/images'), { recursive: true });
          const artifact = join(ARTIFACTS, `inspector-1400-${Date.now()}.png`);
          await page.screenshot({ path: artifact });
          await copyFile(artifact, SCREENSHOT);
          await page.screenshot({ path: join(ARTIFACTS, `inspector-1400-full-${Date.now()}.png`), fullPage: true });
          // The same page 1024 px wide: the list above the details.
          await page.setViewportSize({ width: 1024, height: 1400 });
          await new Promise((r) => setTimeout(r, 500));
          overflow[1024] = await overflowing(page);
          const artifact1024 = join(ARTIFACTS, `inspector-1024-${Date.now()}.png`);
          await page.screenshot({ path: artifact1024 });
          await copyFile(artifact1024, SCREENSHOT_1024);
          console.log(`inspector screenshots: ${artifact}, ${artifact1024} (and ${SCREENSHOT}, ${SCREENSHOT_1024})`);
          // XState's own words appear with the toggle: the torrent's log has its children's done events.
          await page.setViewportSize({ width: 1400, height: 1000 });
          // (a peer finishes at least every 7 s: the cutting proxy's, and the seeds at completion).
          await page.click('[data-testid=xstate-toggle]');
          const torrentRow = page.locator('table.actors tr.row[data-machine=torrent]');
          const torrentId = await torrentRow.getAttribute('data-actor');
          await torrentRow.click();
          await page.waitForSelector(`[data-testid=details][data-actor="${torrentId}"]`, { timeout: 5000 });
          // Watching the peers meanwhile (they come and go while we wait).
          for (const until = Date.now() + 20_000; Date.now() < until;) {
            observe(await look(page));
            const logText = await page.evaluate(() => document.querySelector('[data-testid=log]')?.textContent ?? '');
            if (logText.includes('xstate.')) break;
            await new Promise((r) => setTimeout(r, 200));
          }
          xstateText = await page.evaluate(() => document.body.innerText);
          await page.screenshot({ path: join(ARTIFACTS, `inspector-xstate-${Date.now()}.png`), fullPage: true });
          await page.click('[data-testid=xstate-toggle]');
          shot = true;
        }
        await new Promise((r) => setTimeout(r, 150));
      }
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(1000, left() - 10_000))),
      ]);
      expect(code, leecher.output()).toBe(0);
      // The page keeps the last state it was sent once the engine has gone.
      await page.waitForSelector('[data-testid=connection]:has-text("engine stopped")', { timeout: 10_000 });
      observe(await look(page));
      const endMap = await pieces(page);

      expect(pageErrors).toEqual([]);
      expect(shot, 'a screenshot was taken mid-download').toBe(true);
      expect(statSync(SCREENSHOT).size).toBeGreaterThan(20_000);
      expect(maxActive).toBeGreaterThanOrEqual(3);
      for (const c of expectClients)
        expect(
          [...clientNames].some((n) => c.test(n)),
          `${c} in ${[...clientNames].join(', ')}`,
        ).toBe(true);
      // States change: the torrent's (downloading, then complete) and peers' (connected, then closed).
      expect(torrentStates.size, [...torrentStates].join(' | ')).toBeGreaterThanOrEqual(2);
      expect([...states.values()].some((s) => s.size >= 2)).toBe(true);
      // Peers leave (the cutting proxy, and the seeds closed at completion) and new actors appear.
      expect(sawLeave).toBe(true);
      expect(peerIds.size).toBeGreaterThan(maxActive);
      // The selected peer's chart had its active states highlighted and its log held its transitions.
      expect(activeBoxes).toBeGreaterThanOrEqual(3);
      expect(logTransitions).toBeGreaterThanOrEqual(3);
      // No sideways scrolling at either width, the page nor any panel, table or chart in it.
      expect(overflow[1400], 'at 1400 px').toEqual([]);
      expect(overflow[1024], 'at 1024 px').toEqual([]);
      expect(statSync(SCREENSHOT_1024).size).toBeGreaterThan(20_000);
      // BitTorrent words by default; XState's behind the toggle.
      expect(defaultText).toMatch(/peer \d+\.\d+\.\d+\.\d+:\d+/);
      expect(defaultText).not.toContain('xstate.');
      expect(defaultText).not.toMatch(/peer:\S*#\d+/); // an actor id
      expect(defaultText).not.toMatch(/events\/s|handled in place/);
      expect(xstateText).toContain('xstate.');
      // The piece map is drawn and counts what the torrent's progress says: mid-download its done
      // pieces are at least those the progress published (it publishes once a second), all add up,
      // and at the end every piece is done.
      // The header says the rate the CLI counts (bytes of the last 5 s; sampled at other instants, so
      // within a margin).
      console.log(`header ↓ ${Math.round(headerRate)} B/s; CLI progress lines, last 5 s: ${Math.round(cliRate)} B/s`);
      expect(cliRate).toBeGreaterThan(0);
      expect(Math.abs(headerRate - cliRate), `header ${headerRate} B/s, CLI ${cliRate} B/s`).toBeLessThanOrEqual(
        0.3 * cliRate,
      );
      expect(midMap!.count).toBe(midMap!.pieceCount);
      expect(midMap!.done + midMap!.progress + midMap!.missing).toBe(midMap!.count);
      expect(midMap!.done).toBeGreaterThanOrEqual(midMap!.verified);
      expect(midMap!.done - midMap!.verified).toBeLessThanOrEqual(midMap!.count / 10);
      expect(midMap!.done).toBeGreaterThan(0);
      expect(midMap!.missing).toBeGreaterThan(0);
      expect(midMap!.drawnPixels).toBeGreaterThan(0);
      expect(midMap!.donePixels).toBeGreaterThan(0);
      expect(midMap!.donePixels).toBeLessThan(midMap!.drawnPixels);
      expect(endMap).toMatchObject({ done: endMap.count, progress: 0, missing: 0, verified: endMap.count });
      expect(endMap.donePixels).toBe(endMap.drawnPixels);
      const done = lines.find((l) => l.event === 'done');
      expect(done).toMatchObject({ complete: true });
    },
    BOUND_MS + 30_000,
  );
});
