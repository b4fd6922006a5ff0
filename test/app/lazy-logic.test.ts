// src/app/lazy-logic.ts: a provided statechart built at its first use, and the same statechart to
// XState, `xstate/graph` and the inspector once built; a torrent actor builds its peer, metadata-peer
// and web-seed statecharts only when it first needs one (docs/performance.md, Profiles, start-up).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, createMachine, StateMachine } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { lazyLogic } from '../../src/app/lazy-logic.js';
import { createTorrentActor } from '../../src/app/torrent-actor.js';
import { isStateMachine, machineDefinition } from '../../src/app/inspect/definitions.js';
import { peerMachine } from '../../src/machines/peer/peer.machine.js';
import { metadataPeerMachine } from '../../src/machines/peer/metadata-peer.machine.js';
import { webSeedMachine } from '../../src/machines/webseed/webseed.machine.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';

const toggle = () =>
  createMachine({
    id: 'toggle',
    initial: 'off',
    states: { off: { on: { flip: 'on' } }, on: { on: { flip: 'off' } } },
  });

afterEach(() => vi.restoreAllMocks());

describe('lazyLogic', () => {
  it('builds nothing until the logic is first used, then once', () => {
    const build = vi.fn(toggle);
    const logic = lazyLogic(build);
    expect(build).not.toHaveBeenCalled();
    const actor = createActor(logic).start();
    actor.send({ type: 'flip' });
    expect(actor.getSnapshot().value).toBe('on');
    createActor(logic).start();
    expect(build).toHaveBeenCalledTimes(1);
  });

  it('is the statechart to XState, xstate/graph and the inspector', () => {
    const logic = lazyLogic(toggle);
    expect(logic).toBeInstanceOf(StateMachine);
    expect(logic.id).toBe('toggle');
    expect(isStateMachine(logic)).toBe(true);
    expect(machineDefinition(logic)).toEqual(machineDefinition(toggle()));
    const paths = getShortestPaths(logic, { events: [{ type: 'flip' }] });
    expect(paths.map((p) => p.state.value).sort()).toEqual(['off', 'on']);
    // Snapshots belong to the built statechart.
    expect(createActor(logic).getSnapshot().machine).not.toBe(logic);
  });
});

describe('a torrent actor', () => {
  it('builds its peer, metadata-peer and web-seed statecharts only when it first needs them', () => {
    const provides = [peerMachine, metadataPeerMachine, webSeedMachine].map((m) => vi.spyOn(m, 'provide'));
    const meta = parseMetainfo(
      encodeTorrent({
        name: 'lazy.bin',
        multiFile: false,
        files: [{ path: ['lazy.bin'], length: 100 }],
        pieceLength: 16384,
        pieces: new Uint8Array(20),
      }),
    );
    const actor = createTorrentActor({ meta, dir: '/nonexistent/bt-actor-lazy' });
    actor.start();
    for (const p of provides) expect(p).not.toHaveBeenCalled();
    actor.stop();
  });
});
