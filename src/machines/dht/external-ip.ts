/**
 * BEP 42 for our own node id: learning our public address from the `ip` field other nodes put in their
 * answers, and deriving a node id bound to it. Pure data and functions (the DHT machine keeps the votes
 * in its context).
 *
 * Each node that answered a query of ours (matched by transaction id and address) casts one vote: the
 * address it sees us at. A voter's later vote replaces its earlier one, and only the latest
 * {@link MAX_VOTERS} voters are kept, so a node cannot vote twice and the record stays bounded. An
 * address wins when at least {@link MIN_VOTES} voters name it and more than half of the voters do:
 * one lying node, or a few, cannot move our id. An address exempt under BEP 42 (loopback, private
 * ranges) never makes us change it.
 *
 * @example
 * let votes = emptyVotes();
 * for (const voter of ['1.2.3.4', '5.6.7.8', '9.9.9.9']) votes = castVote(votes, voter, '124.31.75.21');
 * consensusIp(votes) // '124.31.75.21'
 */
import { normaliseHost } from '../../protocol/peer-address.js';
import { bep42Exempt, bep42NodeId, bep42Valid, type NodeId } from './node-id.js';

/** Voters remembered (the latest). */
export const MAX_VOTERS = 16;
/** Voters that must agree before our id follows an address. */
export const MIN_VOTES = 3;

/** Votes by voter address, oldest voter first (insertion order of the record). */
export interface IpVotes {
  /** Voter host → the address (normalised) it sees us at. */
  readonly byVoter: Readonly<Record<string, string>>;
}

export const emptyVotes = (): IpVotes => ({ byVoter: {} });

/**
 * The votes after `voter` says it sees us at `ip`. A host that is not an IP address is ignored (the
 * same votes are returned). One vote per voter host (its port does not make it another voter).
 */
export function castVote(votes: IpVotes, voter: string, ip: string): IpVotes {
  const v = normaliseHost(voter)?.host;
  const seen = normaliseHost(ip)?.host;
  if (v === undefined || seen === undefined) return votes;
  if (votes.byVoter[v] === seen) return votes;
  const byVoter: Record<string, string> = {};
  const kept = Object.entries(votes.byVoter).filter(([k]) => k !== v);
  for (const [k, x] of kept.slice(Math.max(0, kept.length - (MAX_VOTERS - 1)))) byVoter[k] = x;
  byVoter[v] = seen;
  return { byVoter };
}

/** The address most voters name, when at least {@link MIN_VOTES} and more than half of them do. */
export function consensusIp(votes: IpVotes): string | undefined {
  const counts = new Map<string, number>();
  const all = Object.values(votes.byVoter);
  for (const ip of all) counts.set(ip, (counts.get(ip) ?? 0) + 1);
  for (const [ip, n] of counts) if (n >= MIN_VOTES && n * 2 > all.length) return ip;
  return undefined;
}

/**
 * The node id to change to, given the votes: a fresh BEP 42 id for the consensus address when that
 * address is public (not exempt) and `ownId` is not valid for it; otherwise undefined (keep `ownId`).
 * `random` fills the free bits and `r` (the id's last byte).
 */
export function idForVotes(
  ownId: NodeId,
  votes: IpVotes,
  random: () => number,
): { id: NodeId; ip: string } | undefined {
  const ip = consensusIp(votes);
  if (ip === undefined || bep42Exempt(ip) || bep42Valid(ownId, ip)) return undefined;
  const r = Math.floor(random() * 256) & 0xff;
  return { id: bep42NodeId(ip, r, random), ip };
}
