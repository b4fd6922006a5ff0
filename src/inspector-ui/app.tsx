/**
 * The inspector page: the actors of the engine (each torrent, its trackers, choker and peers, live),
 * the torrent's piece map, and for the selected actor its statechart with the active states, its
 * context and its log. Everything reads in BitTorrent terms (the meanings the engine sends with the
 * definitions and log lines); XState's own words (event types, state paths, actor ids, transitions)
 * appear only with "Show XState details" on.
 */
import type { JSX } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { activePaths, type ActorView, type LogLine, type PeerFlags, type StateDef } from '../app/inspect/protocol.js';
import { closeReasonText } from '../app/inspect/meanings.js';
import { Statechart } from './chart.js';
import {
  actorWords,
  ago,
  bytes,
  clock,
  eventWords,
  pathWords,
  rate,
  short,
  stateText,
  stateWords,
  topState,
  topWords,
} from './format.js';
import { PieceMap } from './piecemap.js';
import type { Store } from './store.js';

function useStore(store: Store): Store {
  const [, setVersion] = useState(0);
  useEffect(() => store.subscribe(() => setVersion(store.version)), [store]);
  return store;
}

/** Transmission-style peer flags: D/d download, U/u upload, K, ?, S snubbed, I incoming, E/e encryption. */
const FLAG_HELP: [string, string][] = [
  ['D', 'downloading: we are interested and the peer unchokes us'],
  ['d', 'we are interested, the peer chokes us'],
  ['U', 'uploading: the peer is interested and we unchoke it'],
  ['u', 'the peer is interested, we choke it'],
  ['K', 'the peer unchokes us but we are not interested'],
  ['?', 'we unchoke the peer but it is not interested'],
  ['S', 'snubbed: no block for a while'],
  ['I', 'incoming connection'],
  ['E', 'encrypted: MSE/PE with RC4'],
  ['e', 'MSE/PE handshake, plaintext after it'],
];

function flagLetters(f: PeerFlags, direction: string | undefined, encryption?: string): string {
  let s = '';
  if (f.amInterested && f.peerChoking === false) s += 'D';
  else if (f.amInterested && f.peerChoking) s += 'd';
  if (f.peerInterested && f.amChoking === false) s += 'U';
  else if (f.peerInterested && f.amChoking) s += 'u';
  if (f.amInterested === false && f.peerChoking === false) s += 'K';
  if (f.peerInterested === false && f.amChoking === false) s += '?';
  if (f.snubbed) s += 'S';
  if (direction === 'incoming') s += 'I';
  if (encryption === 'rc4') s += 'E';
  else if (encryption === 'plaintext') s += 'e';
  return s;
}

function FlagChips({ f }: { f: PeerFlags }) {
  const chip = (on: boolean | undefined, yes: string, no: string, title: string) =>
    on === undefined ? null : (
      <span class={`chip ${on ? 'on' : 'off'}`} title={title}>
        {on ? yes : no}
      </span>
    );
  return (
    <span class="chips">
      {chip(
        f.peerChoking === undefined ? undefined : !f.peerChoking,
        'unchoked by peer',
        'choked by peer',
        'may we download from the peer?',
      )}
      {chip(f.amInterested, 'interested', 'not interested', 'do we want pieces the peer has?')}
      {chip(
        f.amChoking === undefined ? undefined : !f.amChoking,
        'we unchoke',
        'we choke',
        'may the peer download from us?',
      )}
      {chip(f.peerInterested, 'peer interested', 'peer not interested', 'does the peer want our pieces?')}
      {f.snubbed && <span class="chip warn">snubbed</span>}
    </span>
  );
}

function Header({ store }: { store: Store }) {
  const roots = [...store.actors.values()].filter((a) => a.parent === null);
  const peers = [...store.actors.values()].filter((a) => a.peer && a.status === 'active');
  const t = roots[0];
  const progress = t?.context.progress as
    { verifiedPieces?: number; pieceCount?: number; left?: number; length?: number } | undefined;
  const pct = progress?.length ? (100 * (progress.length - (progress.left ?? 0))) / progress.length : 0;
  const info = t?.context.info as { name?: string } | undefined;
  return (
    <header class="top">
      <span class="brand">bt-actor inspector</span>
      {t && (
        <span class="torrent" title={t.name}>
          {info?.name ?? t.name}
        </span>
      )}
      {progress && (
        <span
          class="progress"
          data-testid="progress"
          data-verified={progress.verifiedPieces}
          data-pieces={progress.pieceCount}
          title={`${progress.verifiedPieces}/${progress.pieceCount} pieces verified`}
        >
          <span class="bar">
            <span style={{ width: `${pct.toFixed(1)}%` }} />
          </span>
          <span class="pct" data-testid="percent">
            {pct.toFixed(1)}%
          </span>
        </span>
      )}
      {t?.rates && (
        <span class="rates" data-testid="rates" title="bytes of the last 5 s, as the bt-actor command line shows them">
          ↓ {rate(t.rates.down)} · ↑ {rate(t.rates.up)}
        </span>
      )}
      <span class="count" data-testid="peer-count">
        {peers.length} peer{peers.length === 1 ? '' : 's'}
      </span>
      {store.xstate ? (
        <span class="count" title="XState inspection events (events, snapshots, actions) per second">
          {store.stats.eventsPerSecond.toLocaleString('en-US')} inspection events/s
        </span>
      ) : (
        <span
          class="count"
          title="How busy the engine is: messages handled and state updates made by its torrent, tracker and peer machines, per second"
        >
          engine: {store.stats.eventsPerSecond.toLocaleString('en-US')} updates/s
        </span>
      )}
      <label class="toggle" title="event types, state paths, actor ids and the transitions of each statechart">
        <input
          type="checkbox"
          data-testid="xstate-toggle"
          checked={store.xstate}
          onChange={(e) => store.setXState((e.currentTarget as HTMLInputElement).checked)}
        />{' '}
        Show XState details
      </label>
      <span class={`conn conn-${store.connection}`} data-testid="connection">
        {store.connection === 'open'
          ? 'live'
          : store.connection === 'connecting'
            ? 'connecting…'
            : 'engine stopped — last state shown'}
      </span>
    </header>
  );
}

// Rows re-render only when their actor was sent again, the selection moved, or (for ages) a second passed.
interface RowProps {
  a: ActorView;
  store: Store;
  sel: boolean;
}

const ActorRow = memo(function ActorRow({
  a,
  store,
  sel,
  depth,
  nowSec,
}: RowProps & { depth: number; nowSec: number }) {
  const url = typeof a.context.url === 'string' ? a.context.url : undefined;
  const info = a.context.info as { name?: unknown } | undefined;
  const label = url ?? (typeof info?.name === 'string' ? info.name : a.name === a.machine ? '' : a.name);
  const xs = store.xstate;
  const states = store.states.get(a.machine);
  const words = xs ? stateText(a.value) : stateWords(states, a.value);
  return (
    <tr
      class={`row ${sel ? 'sel' : ''} ${a.status !== 'active' ? 'ended' : ''}`}
      onClick={() => store.select(a.id)}
      data-actor={a.id}
      data-machine={a.machine}
    >
      <td class="name" style={{ paddingLeft: `${0.5 + depth * 1.1}rem` }} title={xs ? a.name : `${a.machine} ${label}`}>
        <span class="machine">{a.machine}</span> {label}
        {a.machine === 'webseed' && a.rates && (
          <span class="muted" data-testid="webseed-down">
            {' '}
            ↓ {rate(a.rates.down)}
          </span>
        )}
      </td>
      <td class="state" data-testid="state" data-state={stateText(a.value)} title={words}>
        {a.status === 'active' ? words : `${words} (${a.status})`}
      </td>
      <td class="num">{a.transitions}</td>
      <td class="num">{ago(a.changedAt, nowSec * 1000)}</td>
    </tr>
  );
});

const PeerRow = memo(function PeerRow({ a, store, sel }: RowProps) {
  const p = a.peer!;
  const ended = a.status !== 'active';
  const xs = store.xstate;
  const states = store.states.get(a.machine);
  const top = xs ? topState(a.value) : topWords(states, a.value);
  const why = p.closeReason ? `: ${xs ? p.closeReason : closeReasonText(p.closeReason)}` : '';
  return (
    <tr
      class={`row peer ${sel ? 'sel' : ''} ${ended ? 'ended' : ''}`}
      onClick={() => store.select(a.id)}
      data-actor={a.id}
      data-peer={p.address}
    >
      <td class="addr" title={xs ? a.name : (p.address ?? '')}>
        {p.address ?? (xs ? a.name : '…')}
      </td>
      <td class="client" title={p.client ?? ''}>
        {p.client ?? '…'}
      </td>
      <td
        class="state"
        data-testid="peer-state"
        data-state={stateText(a.value)}
        title={xs ? stateText(a.value) : stateWords(states, a.value)}
      >
        {ended ? `${top}${why}` : top}
      </td>
      <td
        class="flags"
        title={FLAG_HELP.filter(([k]) => flagLetters(p.flags, p.direction, p.encryption).includes(k))
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n')}
      >
        {flagLetters(p.flags, p.direction, p.encryption)}
      </td>
      <td class="num" data-testid="requests">
        {p.requests ?? '–'}
      </td>
      <td class="num" data-testid="peer-down">
        {rate(a.rates?.down)}
      </td>
      <td class="num">{rate(a.rates?.up)}</td>
      <td class="num">{bytes(p.downloaded)}</td>
    </tr>
  );
});

function ActorList({ store }: { store: Store }) {
  const all = [...store.actors.values()];
  const nowSec = Math.floor(store.now / 1000);
  const children = new Map<number | null, ActorView[]>();
  for (const a of all) {
    const list = children.get(a.parent) ?? [];
    list.push(a);
    children.set(a.parent, list);
  }
  const rows: JSX.Element[] = [];
  const peers: ActorView[] = [];
  const walk = (parent: number | null, depth: number) => {
    for (const a of (children.get(parent) ?? []).sort((x, y) => x.id - y.id)) {
      if (a.peer) {
        peers.push(a);
        continue;
      }
      rows.push(
        <ActorRow key={a.id} a={a} store={store} sel={store.selected === a.id} depth={depth} nowSec={nowSec} />,
      );
      walk(a.id, depth + 1);
    }
  };
  walk(null, 0);
  // Orphans (their parent is not a state machine): listed at the top level.
  for (const a of all)
    if (a.parent !== null && !store.actors.has(a.parent) && !a.peer)
      rows.push(<ActorRow key={a.id} a={a} store={store} sel={store.selected === a.id} depth={0} nowSec={nowSec} />);
  peers.sort(
    (x, y) =>
      Number(x.status !== 'active') - Number(y.status !== 'active') ||
      (y.rates?.down ?? 0) - (x.rates?.down ?? 0) ||
      x.id - y.id,
  );
  const active = peers.filter((p) => p.status === 'active').length;
  const torrents = all.filter((a) => a.machine === 'torrent' && a.pieces);
  return (
    <section class="list">
      {torrents.map((t) => (
        <div key={t.id}>
          <h2>Pieces {torrents.length > 1 && <span class="muted">{actorWords(t)}</span>}</h2>
          <PieceMap map={t.pieces!} />
        </div>
      ))}
      <h2>Torrent, trackers and choker</h2>
      <table class="actors">
        <colgroup>
          <col />
          <col class="c-state" />
          <col class="c-n" />
          <col class="c-since" />
        </colgroup>
        <thead>
          <tr>
            <th>{store.xstate ? 'actor' : 'what'}</th>
            <th>state</th>
            <th class="num" title="state changes">
              #
            </th>
            <th class="num">since</th>
          </tr>
        </thead>
        <tbody>{rows}</tbody>
      </table>
      <h2>
        Peers{' '}
        <span class="muted">
          {active} connected{peers.length > active ? `, ${peers.length - active} closing` : ''}
        </span>
      </h2>
      <table class="peers" data-testid="peers">
        <colgroup>
          <col class="c-addr" />
          <col class="c-client" />
          <col />
          <col class="c-flags" />
          <col class="c-req" />
          <col class="c-rate" />
          <col class="c-rate" />
          <col class="c-got" />
        </colgroup>
        <thead>
          <tr>
            <th>address</th>
            <th>client</th>
            <th>state</th>
            <th title={FLAG_HELP.map(([k, v]) => `${k}: ${v}`).join('\n')}>flags</th>
            <th class="num" title="our requests in flight">
              req
            </th>
            <th class="num">↓</th>
            <th class="num">↑</th>
            <th class="num">got</th>
          </tr>
        </thead>
        <tbody>
          {peers.map((a) => (
            <PeerRow key={a.id} a={a} store={store} sel={store.selected === a.id} />
          ))}
        </tbody>
      </table>
      {peers.length === 0 && <p class="muted empty">No peers yet.</p>}
      <dl class="legend">
        {FLAG_HELP.map(([k, v]) => (
          <div key={k}>
            <dt title={k}>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

const LogView = memo(function LogView({
  lines,
  states,
  xstate,
}: {
  lines: LogLine[];
  states: Map<string, StateDef> | undefined;
  xstate: boolean;
}) {
  const shown = lines.slice(-200).reverse();
  const change = (l: LogLine) => {
    if (!l.to) return '';
    const words = (list: string[]) =>
      list.map((p) => (xstate || p.startsWith('(') ? p : pathWords(states, p))).join(', ');
    return `${words(l.from ?? []) || (xstate ? '∅' : '(start)')} → ${words(l.to)}`;
  };
  return (
    <table class={`log ${xstate ? 'log-xstate' : ''}`} data-testid="log">
      <colgroup>
        <col class="c-t" />
        <col class="c-e" />
        <col class="c-ch" />
        <col class="c-d" />
      </colgroup>
      <tbody>
        {shown.map((l) => (
          <tr key={l.seq} class={l.to ? 'tr' : 'ev'}>
            <td class="t">{clock(l.t)}</td>
            <td class="e" title={xstate ? (l.text ?? '') : l.event}>
              {xstate ? l.event : eventWords(l)}
            </td>
            <td class="ch">{change(l)}</td>
            <td class="d">{l.detail ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
});

/** Context fields as rows, one level of nested objects flattened (`progress.downloaded`). */
function contextRows(a: ActorView): [string, unknown][] {
  const entries: [string, unknown][] = [];
  if (a.peer) {
    const { flags: _f, ...rest } = a.peer;
    for (const [k, v] of Object.entries(rest)) entries.push([k, v]);
  }
  const seen = new Set(entries.map(([k]) => k));
  for (const [k, v] of Object.entries(a.context)) {
    // What the peer view already says (its address, peer id, counters) is not repeated.
    if (seen.has(k) || (a.peer && (k === 'address' || k === 'key'))) continue;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length <= 16)
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) entries.push([`${k}.${k2}`, v2]);
    else entries.push([k, v]);
  }
  return entries;
}

const ContextTable = memo(function ContextTable({ a }: { a: ActorView }) {
  return (
    <dl class="ctx" data-testid="context">
      {contextRows(a).map(([k, v]) => (
        <div key={k}>
          <dt title={k}>{k}</dt>
          <dd>{short(v)}</dd>
        </div>
      ))}
    </dl>
  );
});

const STATUS_WORDS: Record<ActorView['status'], string> = {
  active: 'running',
  done: 'finished',
  stopped: 'stopped',
  error: 'failed',
};

function Details({ store }: { store: Store }) {
  const a = store.selected === null ? undefined : store.actors.get(store.selected);
  const def = a ? store.definitions.get(a.machine) : undefined;
  const activeKey = a ? activePaths(a.value).join(',') : '';
  const lastTo = [...store.log].reverse().find((l) => l.to);
  const entered = useMemo(() => {
    const s = new Set<string>();
    for (const leaf of lastTo?.to ?? []) {
      const parts = leaf.split('.');
      for (let i = 1; i <= parts.length; i++) s.add(parts.slice(0, i).join('.'));
    }
    return s;
  }, [lastTo?.seq]);
  if (!a)
    return (
      <section class="details muted">
        {store.selected === null ? 'Select a row on the left.' : 'This one has stopped and is no longer listed.'}
      </section>
    );
  const xs = store.xstate;
  const states = store.states.get(a.machine);
  const status = xs ? a.status : STATUS_WORDS[a.status];
  return (
    <section class="details" data-testid="details" data-actor={a.id}>
      <h2>
        <span class="machine">{a.machine}</span>
        <span class="who">{xs ? (a.peer?.address ?? a.name) : actorWords(a)}</span>
        {a.peer?.client && <span class="muted"> · {a.peer.client}</span>}
        {xs && a.peer && <span class="muted"> · {a.name}</span>}
        <span class={`status status-${a.status}`}>{status}</span>
      </h2>
      <p class="value" data-testid="value">
        {xs ? stateText(a.value) : stateWords(states, a.value)}
      </p>
      {a.peer && <FlagChips f={a.peer.flags} />}
      {def ? (
        <Statechart
          def={def}
          activeKey={activeKey}
          entered={entered}
          flashKey={lastTo?.seq ?? 0}
          xstate={xs}
          title={xs ? def.id : actorWords(a)}
        />
      ) : (
        <p class="muted">No definition for machine {a.machine}.</p>
      )}
      <div class="split">
        <div class="ctx-box">
          <h3>{xs ? 'Context' : 'Details'}</h3>
          <ContextTable a={a} />
        </div>
        <div class="log-box">
          <h3>
            {xs ? 'Log' : 'What happened'}{' '}
            <span class="muted">
              {xs
                ? 'transitions and events, newest first (block-level events left out)'
                : 'newest first; blocks and timers left out'}
            </span>
          </h3>
          <LogView lines={store.log} states={states} xstate={xs} />
        </div>
      </div>
    </section>
  );
}

export function App({ store }: { store: Store }) {
  useStore(store);
  return (
    <div class={`app ${store.xstate ? 'xstate' : ''}`}>
      <Header store={store} />
      <main>
        <ActorList store={store} />
        <Details store={store} />
      </main>
    </div>
  );
}
