/**
 * The inspection stream against running actor systems: real loopback downloads (bt-actor seeders, an
 * embedded tracker) with the collector, the local inspector server and the Stately WebSocket
 * inspector attached. Nothing here names a state of any machine: states are checked against the
 * machine definitions the inspector derives at runtime.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { assign, createActor, enqueueActions, setup, type AnyActorRef } from 'xstate';
import { main } from '../../src/app/cli.js';
import { InspectCollector } from '../../src/app/inspect/collector.js';
import { machineDefinition } from '../../src/app/inspect/definitions.js';
import { DEFAULT_HIGH_RATE_EVENTS, eventMatcher, parseEventFilter } from '../../src/app/inspect/filter.js';
import { peerClient } from '../../src/app/inspect/peer-client.js';
import {
  activePaths,
  type ActorView,
  type DiffMessage,
  type HelloMessage,
  type MachineDef,
  type ServerMessage,
  type StateDef,
} from '../../src/app/inspect/protocol.js';
import { InspectServer } from '../../src/app/inspect/server.js';
import { startStatelyInspection } from '../../src/app/inspect/stately.js';
import { attachListener, createTorrentActor, type TorrentActorOptions } from '../../src/app/torrent-actor.js';
import { documentedMachines } from '../../src/app/machine-diagrams.js';
import { Engine } from '../../src/app/engine.js';
import { PeerListener, selfKeys } from '../../src/io/listener.js';
import { freePort } from '../support/proc.js';
import { startLocalSwarm, type LocalSwarm } from '../support/local-swarm.js';

let swarm: LocalSwarm;
let work: string;
let downloads = 0;

beforeAll(async () => {
  swarm = await startLocalSwarm({ sizeMiB: 6, seeders: 2, pieceLength: 64 * 1024 });
  work = await mkdtemp(join(tmpdir(), 'bt-actor-inspect-leech-'));
}, 60_000);
afterAll(async () => {
  await swarm?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Downloads the swarm's torrent into a fresh folder with `inspect` attached; resolves once stopped. */
async function download(inspect: TorrentActorOptions['inspect'], whileRunning?: () => Promise<void>): Promise<void> {
  const listener = await PeerListener.listen({ port: 0, host: '127.0.0.1' });
  const actor = createTorrentActor({
    meta: swarm.meta,
    dir: join(work, `leech${++downloads}`),
    port: listener.port,
    selfKeys: selfKeys(listener.port),
    ...(inspect && { inspect }),
  });
  const unroute = attachListener(actor, listener, swarm.meta);
  const complete = new Promise<void>((resolve) =>
    actor.subscribe((s) => s.matches({ active: 'complete' }) && resolve()),
  );
  const stopped = new Promise<void>((resolve) =>
    actor.subscribe({ complete: () => resolve(), error: () => resolve() }),
  );
  actor.start();
  await complete;
  await whileRunning?.();
  actor.send({ type: 'torrent.stop' });
  await stopped;
  unroute();
  await listener.close();
}

/** Every path in a definition. */
function paths(def: MachineDef): Set<string> {
  const out = new Set<string>();
  const walk = (n: StateDef) => {
    out.add(n.path);
    n.states.forEach(walk);
  };
  walk(def.root);
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the inspection collector on a running actor system', () => {
  it('lists the torrent, its announcer, trackers, choker and peers, with states from their definitions, logs and throttled diffs', async () => {
    const flushMs = 100;
    const collector = new InspectCollector({ flushMs, lingerMs: 400 });
    const diffs: DiffMessage[] = [];
    collector.subscribe((d) => diffs.push(structuredClone(d)));
    const started = Date.now();
    await download(collector.observer);
    const elapsed = Date.now() - started;
    await sleep(700); // the stopped actors linger, then leave
    collector.flush();
    collector.close();

    // Throttled: at most one diff per flush period (and one per second when idle).
    expect(diffs.length).toBeLessThanOrEqual(Math.ceil((elapsed + 700) / flushMs) + 3);
    const defs = new Map<string, MachineDef>();
    const views = new Map<number, ActorView>();
    const history = new Map<number, ActorView[]>();
    const removed = new Set<number>();
    for (const d of diffs) {
      for (const def of d.definitions ?? []) defs.set(def.id, def);
      for (const v of d.upsert) {
        // A definition always arrives no later than the first actor of its machine.
        expect(defs.has(v.machine), `definition of ${v.machine}`).toBe(true);
        // Every active state is a state of the machine's definition.
        const known = paths(defs.get(v.machine)!);
        for (const p of activePaths(v.value)) expect(known.has(p), `${v.machine}: ${p}`).toBe(true);
        views.set(v.id, v);
        history.set(v.id, [...(history.get(v.id) ?? []), v]);
      }
      for (const id of d.remove) removed.add(id);
    }
    const machines = new Set([...views.values()].map((v) => v.machine));
    for (const m of ['torrent', 'announcer', 'tracker', 'choker', 'peer']) expect(machines, m).toContain(m);
    for (const m of documentedMachines)
      if (defs.has(m.machine.id)) expect(defs.get(m.machine.id)).toEqual(machineDefinition(m.machine));

    // Parents: peers, announcer and choker under the torrent; the tracker under the announcer.
    const byMachine = (m: string) => [...views.values()].filter((v) => v.machine === m);
    const torrent = byMachine('torrent')[0]!;
    expect(torrent.parent).toBeNull();
    for (const v of [...byMachine('peer'), ...byMachine('announcer'), ...byMachine('choker')])
      expect(v.parent).toBe(torrent.id);
    expect(byMachine('tracker')[0]!.parent).toBe(byMachine('announcer')[0]!.id);

    // Peers: address, client from the peer id, flags, counters; both seeders were used.
    const seederPorts = swarm.seeders.map((s) => s.listener.port);
    const peers = byMachine('peer');
    const fromSeeders = peers.filter((p) => seederPorts.some((port) => p.peer?.address === `127.0.0.1:${port}`));
    expect(fromSeeders.length).toBeGreaterThanOrEqual(2);
    for (const p of fromSeeders) {
      expect(p.peer!.peerId).toMatch(/^[0-9a-f]{40}$/);
      expect(p.peer!.client).toMatch(/^bt-actor 0\.1/);
      // While connected, the four BEP 3 flags were known.
      const connected = history
        .get(p.id)!
        .filter((v) => v.status === 'active' && v.peer?.flags.peerChoking !== undefined);
      expect(connected.length).toBeGreaterThan(0);
      for (const k of ['amChoking', 'amInterested', 'peerChoking', 'peerInterested'] as const)
        expect(typeof connected[0]!.peer!.flags[k], k).toBe('boolean');
      expect(connected.some((v) => v.peer!.flags.peerChoking === false)).toBe(true);
      expect(connected.some((v) => (v.peer!.requests ?? 0) > 0)).toBe(true);
    }
    const got = fromSeeders.reduce((n, p) => n + (p.peer!.downloaded ?? 0), 0);
    expect(got).toBeGreaterThanOrEqual(swarm.meta.length);
    // The torrent's piece map: its counts add up, and every piece is done at the end.
    const maps = history.get(torrent.id)!.flatMap((v) => (v.pieces ? [v.pieces] : []));
    expect(maps.length).toBeGreaterThan(0);
    expect(maps[maps.length - 1]).toMatchObject({
      count: swarm.meta.pieceCount,
      done: swarm.meta.pieceCount,
      missing: 0,
    });
    for (const m of maps) expect(m.done + m.inProgress + m.missing).toBe(m.count);
    // The torrent's context is small and JSON-safe: no buffers, no picker.
    expect(JSON.stringify(torrent.context).length).toBeLessThan(4000);
    expect(torrent.context).toMatchObject({ info: { name: swarm.meta.name, infoHashHex: swarm.meta.infoHashHex } });
    // Every actor ended and, after lingering, was removed.
    for (const v of views.values()) expect(removed, v.name).toContain(v.id);
    expect(collector.actorCount).toBe(0);
  });

  it('logs transitions with the leaves left and entered, and leaves the high-rate events out', async () => {
    const collector = new InspectCollector({ flushMs: 50, lingerMs: 60_000 });
    await download(collector.observer);
    collector.flush();
    const hello = collector.hello();
    const quiet = eventMatcher(DEFAULT_HIGH_RATE_EVENTS);
    const torrent = hello.actors.find((a) => a.machine === 'torrent')!;
    const tlog = collector.logOf(torrent.id)!;
    const transitions = tlog.lines.filter((l) => l.to);
    expect(transitions.length).toBeGreaterThanOrEqual(3); // init, checked, complete, stopping, stopped …
    expect(transitions[0]!.event).toBe('xstate.init');
    expect(transitions.at(-1)!.to).toContain('(done)');
    for (const a of hello.actors) {
      const log = collector.logOf(a.id)!;
      expect(log.lines.length).toBeLessThanOrEqual(200);
      for (const l of log.lines) if (!l.to) expect(quiet(l.event), `${a.name}: ${l.event}`).toBe(false);
      // A peer's log holds its connection's story, not its blocks.
      if (a.machine === 'peer' && a.peer?.downloaded)
        expect(log.lines.some((l) => l.event.startsWith('wire.piece') && !l.to)).toBe(false);
    }
    // The seq numbers let a page ask for what it lacks.
    const later = collector.logOf(torrent.id, tlog.lines[1]!.seq)!;
    expect(later.reset).toBe(false);
    expect(later.lines[0]!.seq).toBe(tlog.lines[2]!.seq);
    collector.close();
  });

  it('never throws into the engine, whatever the contexts hold', () => {
    const collector = new InspectCollector();
    const broken = {
      id: 'x',
      sessionId: 'x:9',
      logic: { id: 'peer', root: { key: '', path: [], type: 'atomic', states: {}, transitions: new Map() } },
      system: {},
      getSnapshot: () => {
        throw new Error('boom');
      },
    };
    expect(() => collector.observer({ type: '@xstate.actor', actorRef: broken, rootId: 'x:9' } as never)).not.toThrow();
    expect(() =>
      collector.observer({
        type: '@xstate.snapshot',
        actorRef: broken,
        rootId: 'x:9',
        event: { type: 'e' },
        snapshot: {
          status: 'active',
          value: { a: 'b' },
          get context() {
            throw new Error('no');
          },
        },
      } as never),
    ).not.toThrow();
    expect(() => collector.hello()).not.toThrow();
    collector.close();
  });
});

/**
 * Many actors and a flood of events, without sockets: `count` children of one root, each holding a
 * 64 KiB buffer in its context; `block` events only bump a counter, `toggle` events change state.
 */
function floodSystem(count: number, inspect: TorrentActorOptions['inspect']) {
  const worker = setup({ types: { context: {} as { n: number; blob: Uint8Array } } }).createMachine({
    id: 'worker',
    context: () => ({ n: 0, blob: new Uint8Array(64 * 1024) }),
    initial: 'a',
    states: { a: { on: { toggle: 'b' } }, b: { on: { toggle: 'a' } } },
    on: { block: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
  });
  const root = setup({ actors: { worker } }).createMachine({
    id: 'swarm',
    entry: enqueueActions(({ enqueue }) => {
      for (let i = 0; i < count; i++) enqueue.spawnChild('worker', { id: `w${i}` });
    }),
  });
  const actor = createActor(root, { ...(inspect && { inspect }) });
  actor.start();
  const children = Object.values(actor.getSnapshot().children) as AnyActorRef[];
  /** Sends `blocks` block events spread over the children, and `toggles` toggles to the first ones, for `ms`. */
  const run = async (ms: number, perTick: number, togglesEvery: number) => {
    const end = Date.now() + ms;
    let sent = 0;
    let tick = 0;
    while (Date.now() < end) {
      for (let i = 0; i < perTick; i++) children[(sent + i) % children.length]!.send({ type: 'block' });
      sent += perTick;
      if (++tick % togglesEvery === 0) for (let i = 0; i < 10; i++) children[i]!.send({ type: 'toggle' });
      await new Promise((r) => setImmediate(r));
    }
    return sent;
  };
  return { actor, children, run };
}

describe('throttling under load', () => {
  it('hundreds of actors and a flood of events: at most one diff per flush, counters at most once a second, no buffers', async () => {
    const flushMs = 100;
    const collector = new InspectCollector({ flushMs, dataMs: 1000, quiet: eventMatcher(['block']) });
    const diffs: DiffMessage[] = [];
    collector.subscribe((d) => diffs.push(d));
    const sys = floodSystem(300, collector.observer);
    const started = Date.now();
    const sent = await sys.run(2500, 600, 20);
    const elapsed = Date.now() - started;
    collector.flush();
    expect(sent).toBeGreaterThan(10_000);
    expect(diffs.length).toBeLessThanOrEqual(Math.ceil(elapsed / flushMs) + 2);
    const upserts = new Map<string, number>();
    for (const d of diffs) for (const a of d.upsert) upserts.set(a.name, (upserts.get(a.name) ?? 0) + 1);
    // A worker that only counted blocks was sent about once a second; the toggled ones more often.
    const quietOnes = [...upserts]
      .filter(([name]) => /^w\d+$/.test(name) && Number(name.slice(1)) >= 10)
      .map(([, n]) => n);
    expect(quietOnes.length).toBe(290);
    expect(Math.max(...quietOnes)).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 2);
    expect(upserts.get('w0')!).toBeGreaterThan(Math.max(...quietOnes));
    // Contexts hold 64 KiB buffers: the views carry their length only.
    const sample = diffs.flatMap((d) => d.upsert).find((a) => a.machine === 'worker')!;
    expect(sample.context.blob).toBe('<65536 bytes>');
    expect(Math.max(...diffs.map((d) => JSON.stringify(d).length))).toBeLessThan(300 * 600);
    // Logs: toggles are transitions, blocks are left out.
    const w0 = diffs.flatMap((d) => d.upsert).find((a) => a.name === 'w0')!;
    const log = collector.logOf(w0.id)!;
    expect(log.lines.length).toBeGreaterThan(3);
    expect(log.lines.every((l) => l.event !== 'block')).toBe(true);
    expect(collector.hello().stats.eventsPerSecond).toBeGreaterThan(0);
    sys.actor.stop();
    collector.close();
  });

  it('a page that does not read is sent no backlog: it gets a fresh hello once it drains', async () => {
    const collector = new InspectCollector({ flushMs: 50, dataMs: 50 });
    const server = await InspectServer.start({ collector, port: 0, highWaterBytes: 64 * 1024 });
    const sys = floodSystem(1500, collector.observer);
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}ws`);
    const got: string[] = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d)).type));
    try {
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      await new Promise((r) => setTimeout(r, 200));
      const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      await sys.run(4000, 3000, 1000); // every actor changes counters every flush: ~1500 views each time
      const before = got.length;
      socket.resume();
      const deadline = Date.now() + 10_000;
      while (got.filter((t) => t === 'hello').length < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(got.filter((t) => t === 'hello').length, `${before} messages before resuming`).toBe(2);
      // Fewer diffs arrived than were built: the ones the page could not take were dropped, not queued.
      expect(got.filter((t) => t === 'diff').length).toBeLessThan(4000 / 50);
    } finally {
      ws.terminate();
      sys.actor.stop();
      await server.close();
      collector.close();
    }
  });
});

describe('Engine.create({ inspect })', () => {
  it('attaches the observer to every torrent it runs', async () => {
    const collector = new InspectCollector({ flushMs: 50 });
    const engine = await Engine.create({ port: 0, host: '127.0.0.1', inspect: collector.observer });
    try {
      const t = await engine.add(swarm.torrentPath, {
        dir: join(work, 'engine'),
        peers: swarm.seeders.map((s) => ({ host: '127.0.0.1', port: s.listener.port, family: 4 as const })),
      });
      await t.completed;
      const machines = new Set(collector.hello().actors.map((a) => a.machine));
      expect(machines).toContain('torrent');
      expect(machines).toContain('peer');
    } finally {
      await engine.close();
      collector.close();
    }
  });
});

describe('the local inspector server', () => {
  it('serves the page and pushes hello, diffs and the selected actor log over its WebSocket', async () => {
    const collector = new InspectCollector({ flushMs: 100 });
    const server = await InspectServer.start({ collector, port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(server.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('inspector.js');
      const js = await fetch(`${server.url}inspector.js`);
      expect(js.status).toBe(200);
      expect(js.headers.get('content-type')).toMatch(/javascript/);
      // DNS rebinding: another Host is refused.
      const rebound = await new Promise<number>((resolve, reject) => {
        const req = request(server.url, { headers: { host: 'evil.example:80' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      expect(rebound).toBe(421);

      const ws = new WebSocket(`${server.url.replace('http', 'ws')}ws`);
      const messages: ServerMessage[] = [];
      ws.on('message', (d) => messages.push(JSON.parse(String(d)) as ServerMessage));
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      let selected = false;
      await download(collector.observer, async () => {
        const peer = [...messages]
          .reverse()
          .flatMap((m) => (m.type === 'diff' ? m.upsert : m.type === 'hello' ? m.actors : []))
          .find((a) => a.machine === 'peer');
        expect(peer).toBeDefined();
        ws.send(JSON.stringify({ type: 'select', id: peer!.id }));
        selected = true;
        await sleep(400);
      });
      await sleep(300);
      expect(selected).toBe(true);
      expect(messages[0]!.type).toBe('hello');
      expect((messages[0] as HelloMessage).definitions).toBeInstanceOf(Array);
      const diffs = messages.filter((m): m is DiffMessage => m.type === 'diff');
      expect(diffs.some((d) => d.upsert.some((a) => a.machine === 'peer'))).toBe(true);
      expect(diffs.some((d) => (d.definitions ?? []).some((def) => def.id === 'peer'))).toBe(true);
      const logs = messages.filter((m) => m.type === 'log');
      expect(logs.length).toBeGreaterThan(0);
      expect(logs[0]).toMatchObject({ reset: true });
      expect(logs[0]!.type === 'log' && logs[0]!.lines.some((l) => l.event === 'xstate.init')).toBe(true);
      // The JSON endpoint answers too.
      const state = (await (await fetch(`${server.url}api/state`)).json()) as HelloMessage;
      expect(state.type).toBe('hello');
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      await server.close();
      expect(await closed).toBe(1001);
    } finally {
      await server.close();
      collector.close();
    }
  });
});

describe('the Stately inspector (--inspect=stately)', () => {
  async function sink(port = 0) {
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    await new Promise((resolve) => wss.once('listening', resolve));
    const received: {
      type: string;
      event?: { type: string };
      name?: string;
      sessionId: string;
      parentId?: string;
      definition?: string;
      snapshot?: unknown;
    }[] = [];
    const sizes: number[] = [];
    wss.on('connection', (ws) =>
      ws.on('message', (d) => {
        sizes.push(String(d).length);
        received.push(JSON.parse(String(d)));
      }),
    );
    const close = () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      });
    return { wss, received, sizes, port: (wss.address() as { port: number }).port, close };
  }

  it('sends the actors to a local WebSocket server, high-rate events filtered out and contexts small', async () => {
    const s = await sink();
    const statuses: string[] = [];
    const stately = startStatelyInspection({ url: `ws://127.0.0.1:${s.port}`, onStatus: (st) => statuses.push(st) });
    try {
      const deadline = Date.now() + 5000;
      while (!stately.connected && Date.now() < deadline) await sleep(20);
      expect(stately.connected).toBe(true);
      await download(stately.inspect);
      await stately.close();
      await sleep(100);
      expect(statuses).toEqual(['connected']);
      const actors = s.received.filter((m) => m.type === '@xstate.actor');
      const names = actors.map((a) => a.name);
      expect(names).toContain('torrent');
      expect(names).toContain('announcer');
      expect(names.some((n) => n?.startsWith('peer:'))).toBe(true);
      expect(actors.find((a) => a.name === 'torrent')!.definition).toContain('"id":"torrent"');
      const ids = new Set(actors.map((a) => a.sessionId));
      expect(ids.size).toBe(actors.length);
      for (const a of actors) if (a.parentId !== undefined) expect(ids, a.name).toContain(a.parentId);
      const quiet = eventMatcher(DEFAULT_HIGH_RATE_EVENTS);
      const events = s.received.filter((m) => m.type === '@xstate.event');
      expect(events.length).toBeGreaterThan(0);
      for (const e of events) expect(quiet(e.event!.type), e.event!.type).toBe(false);
      const snapshots = s.received.filter((m) => m.type === '@xstate.snapshot');
      expect(snapshots.length).toBeGreaterThan(0);
      // Snapshots carry small contexts (no piece buffers, bitfields or sockets).
      expect(Math.max(...s.sizes.filter((_, i) => s.received[i]!.type === '@xstate.snapshot'))).toBeLessThan(16_000);
      expect(s.received.length).toBeLessThan(3000);
    } finally {
      await stately.close();
      await s.close();
    }
  });

  it('with the filter off, sends the block-level events too', async () => {
    const s = await sink();
    const stately = startStatelyInspection({
      url: `ws://127.0.0.1:${s.port}`,
      filter: parseEventFilter('all')!.filter,
    });
    try {
      const deadline = Date.now() + 5000;
      while (!stately.connected && Date.now() < deadline) await sleep(20);
      await download(stately.inspect);
      await stately.close();
      await sleep(200);
      const types = new Set(s.received.filter((m) => m.type === '@xstate.event').map((m) => m.event!.type));
      expect([...types].some((t) => t.startsWith('wire.piece'))).toBe(true);
    } finally {
      await stately.close();
      await s.close();
    }
  });

  it('waits for a server that is not there yet, then registers the live actors; closing stops retrying', async () => {
    const port = await freePort();
    const statuses: string[] = [];
    const stately = startStatelyInspection({
      url: `ws://127.0.0.1:${port}`,
      retryMs: 150,
      onStatus: (st) => statuses.push(st),
    });
    let s: Awaited<ReturnType<typeof sink>> | undefined;
    try {
      await download(stately.inspect, async () => {
        await sleep(300);
        expect(statuses).toEqual(['unreachable']);
        s = await sink(port);
        const deadline = Date.now() + 5000;
        while (!s.received.some((m) => m.name === 'torrent') && Date.now() < deadline) await sleep(20);
      });
      expect(statuses).toEqual(['unreachable', 'connected']);
      expect(s!.received.some((m) => m.type === '@xstate.actor' && m.name === 'torrent')).toBe(true);
      await stately.close();
      const n = s!.wss.clients.size;
      await sleep(400);
      expect(stately.connected).toBe(false);
      expect(s!.wss.clients.size).toBeLessThanOrEqual(n);
    } finally {
      await stately.close();
      await s?.close();
    }
  });
});

describe('bt-actor run --inspect', () => {
  it('prints the page URL as a JSON line and serves the page while it runs', async () => {
    const out: string[] = [];
    const ac = new AbortController();
    let checked: Promise<void> | undefined;
    let complete!: () => void;
    const completed = new Promise<void>((resolve) => (complete = resolve));
    const port = await freePort();
    const code = await main(
      [
        'run',
        swarm.torrentPath,
        '--out',
        join(work, 'cli'),
        '--json',
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--seed',
        '--inspect',
        '--inspect-port',
        '0',
      ],
      {
        out: (l) => {
          out.push(l);
          const j = JSON.parse(l) as { event: string; url?: string };
          if (j.event === 'complete') complete();
          if (j.event === 'inspect') {
            checked = (async () => {
              const page = await fetch(j.url!);
              expect(page.status).toBe(200);
              const deadline = Date.now() + 20_000;
              let state: HelloMessage;
              do {
                await sleep(100);
                state = (await (await fetch(`${j.url}api/state`)).json()) as HelloMessage;
              } while (!state.actors.some((a) => a.machine === 'peer') && Date.now() < deadline);
              expect(state.actors.some((a) => a.machine === 'peer')).toBe(true);
              await completed;
            })().finally(() => ac.abort());
          }
        },
        err: () => {},
        signal: ac.signal,
      },
    );
    await checked;
    const events = out.map((l) => JSON.parse(l) as { event: string; mode?: string; url?: string });
    expect(events[0]!.event).toBe('listening');
    expect(events[1]).toMatchObject({ event: 'inspect', mode: 'local' });
    expect(events[1]!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(events.at(-1)!.event).toBe('done');
    expect(code).toBe(0);
  });

  it('refuses malformed inspect options with exit code 2', async () => {
    const cli = async (...argv: string[]) => {
      const err: string[] = [];
      const code = await main(['run', swarm.torrentPath, ...argv], { out: () => {}, err: (l) => err.push(l) });
      return { code, err: err.join('\n') };
    };
    expect(await cli('--inspect=bogus')).toMatchObject({ code: 2, err: expect.stringContaining('local or stately') });
    expect(await cli('--inspect-port', '9000')).toMatchObject({
      code: 2,
      err: expect.stringContaining('needs --inspect'),
    });
    expect(await cli('--inspect', '--inspect-port', 'x')).toMatchObject({ code: 2 });
    expect(await cli('--inspect', '--inspect-url', 'ws://localhost:8080')).toMatchObject({ code: 2 });
    expect(await cli('--inspect=stately', '--inspect-url', 'http://x')).toMatchObject({ code: 2 });
    expect(await cli('--inspect', '--inspect-filter', 'a b')).toMatchObject({ code: 2 });
  });
});

describe('inspector helpers', () => {
  it('names clients from their peer ids', () => {
    const id = (s: string) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(20 - s.length, 0x41)]);
    expect(peerClient(id('-TR3000-'))).toBe('Transmission 3.00');
    expect(peerClient(id('-lt0D80-'))).toMatch(/^libTorrent \(rakshasa\) 0\.13\.8/);
    expect(peerClient(id('-LT2090-'))).toMatch(/^libtorrent \(Rasterbar\) 2\.0\.9/);
    expect(peerClient(id('-WW0300-'))).toBe('WebTorrent 0.3');
    expect(peerClient(id('A2-1-37-0-'))).toBe('aria2 1.37.0');
    expect(peerClient(id('-BA0100-'))).toBe('bt-actor 0.1');
    expect(peerClient(id('M7-4-0--'))).toBe('Mainline 7.4.0');
    expect(peerClient(id('S58B-----'))).toBe('Shadow 5.8.11');
    expect(peerClient(id('T03I---'))).toBe('BitTornado 0.3.18');
    expect(peerClient(id('-BA0100-').toString('hex'))).toBe('bt-actor 0.1');
    expect(peerClient(undefined)).toBeUndefined();
  });

  it('parses --inspect-filter', () => {
    expect(parseEventFilter('default')!.filter('wire.piece')).toBe(true);
    expect(parseEventFilter('default')!.filter('wire.unchoke')).toBe(false);
    expect(parseEventFilter('default')!.filter('xstate.after.tick.torrent.active')).toBe(true);
    expect(parseEventFilter('all')!.filter('wire.piece')).toBe(false);
    const custom = parseEventFilter('wire.*, peer.check')!;
    expect(custom.filter('wire.unchoke')).toBe(true);
    expect(custom.filter('peer.check')).toBe(true);
    expect(custom.filter('torrent.tick')).toBe(false);
    const more = parseEventFilter('+choker.*')!;
    expect(more.filter('choker.unchoke')).toBe(true);
    expect(more.filter('wire.piece')).toBe(true);
    expect(parseEventFilter('')).toBeUndefined();
    expect(parseEventFilter('a b')).toBeUndefined();
  });

  it('derives every machine definition with targets that exist', () => {
    for (const m of documentedMachines) {
      const def = machineDefinition(m.machine);
      expect(def.id).toBe(m.machine.id);
      const known = paths(def);
      const walk = (n: StateDef) => {
        for (const t of n.on)
          for (const target of t.targets) expect(known.has(target), `${m.name}: ${n.path} → ${target}`).toBe(true);
        if (n.initial !== undefined) expect(n.states.map((s) => s.key)).toContain(n.initial);
        n.states.forEach(walk);
      };
      walk(def.root);
      expect(JSON.parse(JSON.stringify(def))).toEqual(def);
    }
  });
});
