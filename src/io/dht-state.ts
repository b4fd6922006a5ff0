/**
 * Where the DHT node keeps its routing table between runs: `dht.json` in the state folder
 * (`--state-dir`, default `$XDG_STATE_HOME/bt-actor` or `~/.local/state/bt-actor`, created 0700),
 * written atomically (a temporary file renamed over it, 0600).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fromPromise } from 'xstate';
import type { DhtSaveInput } from '../protocol/dht-socket-types.js';

/** The file name of the saved routing table in the state folder. */
export const DHT_STATE_FILE = 'dht.json';

/** The default state folder: `$XDG_STATE_HOME/bt-actor`, else `~/.local/state/bt-actor`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_STATE_HOME;
  return xdg && xdg.startsWith('/') ? join(xdg, 'bt-actor') : join(homedir(), '.local', 'state', 'bt-actor');
}

/** The saved table's text, or undefined when there is none or it cannot be read (the node starts afresh). */
export async function loadDhtTable(dir: string): Promise<string | undefined> {
  try {
    return await readFile(join(dir, DHT_STATE_FILE), 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes the table into `dir` (created 0700 if missing), atomically. */
export async function saveDhtTable(dir: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, DHT_STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

/** The node's `saveTable` actor for the state folder `dir`. */
export function saveDhtTableActor(dir: string) {
  return fromPromise<void, DhtSaveInput>(({ input }) => saveDhtTable(dir, input.text));
}
