/**
 * Client names from peer ids for the inspector: the Azureus-style ids (`-TR3000-`, `-lt0D80-`,
 * `-WW0300-`, ours `-BA0100-`) and aria2's (`A2-1-36-0-`) through the protocol's `clientName`, plus
 * the older Mainline-style (`M7-4-0--`) and Shadow-style (`S58B-----`, `T03I---`) ids.
 */
import { clientName } from '../../protocol/peer-id.js';

const SHADOW: Record<string, string> = {
  A: 'ABC',
  O: 'Osprey Permaseed',
  Q: 'BTQueue',
  R: 'Tribler',
  S: 'Shadow',
  T: 'BitTornado',
  U: 'UPnP NAT Bit Torrent',
};

const MAINLINE: Record<string, string> = { M: 'Mainline', Q: 'Queen Bee' };

/** A Shadow-style version character: 0-9, then A-Z for 10-35, a-z for 36-61. */
function shadowDigit(c: string): number | undefined {
  if (/[0-9]/.test(c)) return Number(c);
  if (/[A-Z]/.test(c)) return c.charCodeAt(0) - 55;
  if (/[a-z]/.test(c)) return c.charCodeAt(0) - 61;
  return undefined;
}

/** A display name for a peer id (raw bytes or 40 hex digits), or undefined when there is none yet. */
export function peerClient(peerId: Uint8Array | string | undefined): string | undefined {
  if (peerId === undefined) return undefined;
  const bytes = typeof peerId === 'string' ? Uint8Array.from(Buffer.from(peerId, 'hex')) : peerId;
  if (bytes.length === 0) return undefined;
  const s = String.fromCharCode(...bytes.subarray(0, 20));
  if (/^-[A-Za-z]{2}[0-9A-Za-z]{4}-/.test(s) || /^A2-\d+-\d+-\d+-/.test(s)) return clientName(bytes);
  const mainline = /^([MQ])(\d+)-(\d+)-(\d+)-/.exec(s) ?? /^([MQ])(\d+)-(\d+)--/.exec(s);
  if (mainline && MAINLINE[mainline[1]!]) {
    return `${MAINLINE[mainline[1]!]} ${mainline
      .slice(2)
      .filter((x) => x !== undefined)
      .join('.')}`;
  }
  const shadow = /^([AOQRSTU])([0-9A-Za-z.]{3,5})(-{1,3}|\0{1,3})/.exec(s);
  if (shadow) {
    const digits = [...shadow[2]!].map(shadowDigit).filter((d): d is number => d !== undefined);
    if (digits.length >= 3) return `${SHADOW[shadow[1]!]} ${digits.join('.')}`;
  }
  return clientName(bytes);
}
