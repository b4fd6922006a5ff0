import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { machinesMarkdown, mermaidDiagram } from '../../src/app/machine-diagrams.js';
import { peerMachine } from '../../src/machines/peer/peer.machine.js';
import { trackerMachine } from '../../src/machines/tracker/tracker.machine.js';

describe('statechart diagrams', () => {
  it('docs/machines.md is what the machine definitions generate (run `npm run docs:machines` if not)', async () => {
    const onDisk = await readFile(join(import.meta.dirname, '../../docs/machines.md'), 'utf8');
    expect(onDisk).toBe(machinesMarkdown());
  });

  it('draws states, parallel regions and transitions from the definitions', () => {
    const peer = mermaidDiagram(peerMachine);
    expect(peer).toMatch(/state "connected \(parallel\)" as peer_connected \{/);
    for (const region of ['amChoking', 'amInterested', 'peerChoking', 'peerInterested', 'requests'])
      expect(peer).toContain(`as peer_connected_${region}`);
    expect(peer).toMatch(/peer_connected_peerChoking_choked --> peer_connected_peerChoking_unchoked: wire\.unchoke/);
    const tracker = mermaidDiagram(trackerMachine);
    expect(tracker).toMatch(/tracker_active_announcing --> tracker_active_waiting: announce done/);
    expect(tracker).toMatch(/tracker_active_backoff --> tracker_active_announcing: after backoffDelay/);
  });
});
