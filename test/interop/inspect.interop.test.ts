/**
 * The inspector page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
 * during a real loopback download: `bt-actor run … --inspect` leeches from bt-actor seeders (and
 * aria2 and Transmission when installed), each behind a throttling proxy so the download lasts long
 * enough to watch, one of them cutting its connections now and then so peers leave and come back.
 * The page must list the peers, show states changing, and a screenshot of it is saved to
 * docs/images/inspector.png (the one docs/inspect.md shows) and as a test artifact.
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
  dataset: Record<string, string | undefined>;
  classList: { contains(c: string): boolean };
  querySelector(s: string): El | null;
  getAttribute(n: string): string | null;
}
declare const document: {
  querySelector(s: string): El | null;
  querySelectorAll(s: string): ArrayLike<El> & Iterable<El>;
};

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
        state: r.querySelector('[data-testid=peer-state]')?.getAttribute('title') ?? '',
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
      const lines = jsonLines(leecher.child.stdout!);
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
      const page = await browser.newPage({ viewport: { width: 1600, height: 1200 }, deviceScaleFactor: 1 });
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
          await mkdir(ARTIFACTS, { recursive: true });
          const artifact = join(ARTIFACTS, `inspector-${Date.now()}.png`);
          await page.screenshot({ path: artifact });
          await mkdir(join(ROOT, 'docs/images'), { recursive: true });
          await copyFile(artifact, SCREENSHOT);
          console.log(`inspector screenshot: ${artifact} (and ${SCREENSHOT})`);
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
      const done = lines.find((l) => l.event === 'done');
      expect(done).toMatchObject({ complete: true });
    },
    BOUND_MS + 30_000,
  );
});
