/**
 * Debian's opentracker on 127.0.0.1 (`port`, TCP and UDP) for interop tests. Debian builds it with a
 * whitelist and it chroots to its folder, so the list of the info hashes it serves (hex) is written
 * inside `dir`, which must be readable by the user it drops to. Stopped by PID like every process of
 * proc.ts.
 *
 * @example
 * const tracker = await startOpentracker(dir, await freePort(true), [meta.infoHashHex]);
 * // announce to http://127.0.0.1:PORT/announce or udp://127.0.0.1:PORT
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProcess, waitForPort, type Proc } from './proc.js';

export async function startOpentracker(dir: string, port: number, hashesHex: readonly string[]): Promise<Proc> {
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'whitelist'), hashesHex.map((h) => `${h}\n`).join(''));
  const p = String(port);
  const tracker = startProcess('opentracker', ['-i', '127.0.0.1', '-p', p, '-P', p, '-d', dir, '-w', '/whitelist']);
  await waitForPort(port, 10_000, tracker);
  return tracker;
}
