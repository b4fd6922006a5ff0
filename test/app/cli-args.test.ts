/**
 * The command line's own argument parsing (our messages, "did you mean", exit 2 with one line and a
 * hint), `help <command>`, `-V`, `--peer` with host names, and `create`'s and `demo --keep`'s promises.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { editDistance, nearest, parseArguments, UsageError } from '../../src/app/args.js';
import { main } from '../../src/app/cli.js';
import { resolvePeerArg } from '../../src/app/peer-arg.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { startLocalSwarm, type LocalSwarm } from '../support/local-swarm.js';
import { freePort } from '../support/proc.js';

const exec = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), outLines: out, errLines: err };
}

let dir: string;
let torrent: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-cli-args-'));
  await writeFile(join(dir, 'one.bin'), Buffer.alloc(100_000, 1));
  torrent = join(dir, 'one.torrent');
  expect((await cli('create', join(dir, 'one.bin'), '-o', torrent, '-a', 'http://127.0.0.1:1/announce')).code).toBe(0);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const RUN_HINT = "Run 'bt-actor run --help' for its options.";
const COMMANDS_HINT = "Run 'bt-actor --help' for the list of commands.";

describe('the argument parser', () => {
  const specs = {
    out: { type: 'string', short: 'o' },
    peer: { type: 'string', multiple: true },
    'max-peers': { type: 'string' },
    seed: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    private: { type: 'boolean', short: 'p' },
    inspect: { type: 'string', bare: 'local' },
  } as const;
  const parse = (...args: string[]) => parseArguments(args, specs);
  const mistake = (...args: string[]) => {
    try {
      parse(...args);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).code).toBe('BT_ERR_USAGE');
      return (err as Error).message;
    }
    throw new Error(`no mistake found in ${args.join(' ')}`);
  };

  it('takes --opt value, --opt=value, -o value, -ovalue, grouped booleans and repeats', () => {
    expect(parse('--out', 'a', 'x.torrent').values.out).toBe('a');
    expect(parse('--out=a=b', 'x.torrent').values.out).toBe('a=b');
    expect(parse('-o', 'a').values.out).toBe('a');
    expect(parse('-oa').values.out).toBe('a');
    expect(parse('-pq').values).toEqual({ private: true, quiet: true });
    expect(parse('-qo', 'dir').values).toEqual({ quiet: true, out: 'dir' });
    expect(parse('--peer', 'a:1', 'x', '--peer=b:2').values.peer).toEqual(['a:1', 'b:2']);
    expect(parse('x', '--seed', 'y').positionals).toEqual(['x', 'y']);
  });

  it('-- ends the options; a lone - is a positional', () => {
    expect(parse('--seed', '--', '--out', '-q', '-')).toEqual({
      values: { seed: true },
      positionals: ['--out', '-q', '-'],
    });
    expect(parse('-').positionals).toEqual(['-']);
  });

  it('a negative number is a value, not an option', () => {
    expect(parse('--max-peers', '-3').values['max-peers']).toBe('-3');
    expect(parse('--max-peers', '-.5').values['max-peers']).toBe('-.5');
  });

  it('an option with an optional value (--inspect) takes its value only after =', () => {
    expect(parse('--inspect', 'x.torrent')).toEqual({ values: { inspect: 'local' }, positionals: ['x.torrent'] });
    expect(parse('--inspect=stately').values.inspect).toBe('stately');
  });

  it('says what is wrong, in our words', () => {
    expect(mistake('--ot', 'd')).toBe('unknown option --ot (did you mean --out?)');
    expect(mistake('--ot=d')).toBe('unknown option --ot (did you mean --out?)');
    expect(mistake('--max')).toBe('unknown option --max (did you mean --max-peers?)');
    expect(mistake('--frobnicate')).toBe('unknown option --frobnicate');
    expect(mistake('-out', 'd')).toBe('unknown option -out (did you mean --out?)');
    expect(mistake('-z')).toBe('unknown option -z');
    expect(mistake('-qz')).toBe('unknown option -z (in -qz)');
    expect(mistake('--out')).toBe('--out needs a value');
    expect(mistake('-o')).toBe('-o needs a value');
    expect(mistake('--out', '--seed')).toBe(
      '--out needs a value, not the option --seed (write --out=VALUE for a value starting with -)',
    );
    expect(mistake('--seed=yes')).toBe('--seed takes no value (got --seed=yes)');
    expect(mistake('--__proto__')).toBe('unknown option --__proto__');
  });

  it('did-you-mean uses an edit distance that counts a swap as one edit', () => {
    expect(editDistance('rnu', 'run')).toBe(1);
    expect(editDistance('ot', 'out')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearest('rnu', ['run', 'demo', 'info', 'create', 'help'])).toBe('run');
    expect(nearest('crate', ['run', 'demo', 'info', 'create', 'help'])).toBe('create');
    expect(nearest('zzz', ['run', 'demo', 'info', 'create', 'help'])).toBeUndefined();
  });
});

describe('bt-actor: bad arguments are one line of ours, the hint, exit 2', () => {
  it('an unknown option names the nearest one', async () => {
    expect(await cli('run', torrent, '--ot', 'd')).toMatchObject({
      code: 2,
      out: '',
      errLines: ['bt-actor run: unknown option --ot (did you mean --out?)', RUN_HINT],
    });
    expect((await cli('create', join(dir, 'one.bin'), '--jsn')).errLines).toEqual([
      'bt-actor create: unknown option --jsn (did you mean --json?)',
      "Run 'bt-actor create --help' for its options.",
    ]);
  });

  it('an unknown command names the nearest one', async () => {
    expect(await cli('rnu', torrent)).toMatchObject({
      code: 2,
      errLines: ["bt-actor: unknown command 'rnu' (did you mean 'run'?)", COMMANDS_HINT],
    });
    expect((await cli('frobnicate')).errLines).toEqual(["bt-actor: unknown command 'frobnicate'", COMMANDS_HINT]);
    expect((await cli('--verison')).errLines).toEqual([
      'bt-actor: unknown option --verison (did you mean --version?)',
      COMMANDS_HINT,
    ]);
    expect((await cli('-v')).errLines).toEqual(['bt-actor: unknown option -v (did you mean -V?)', COMMANDS_HINT]);
  });

  it('a missing value names the option that needs it', async () => {
    expect(await cli('run', torrent, '--out')).toMatchObject({
      code: 2,
      errLines: ['bt-actor run: --out needs a value', RUN_HINT],
    });
  });

  it('numbers are checked with our message; --max-peers -3 is the value -3, refused', async () => {
    const cases: [string[], string][] = [
      [['run', torrent, '--max-peers', '-3'], "bt-actor run: --max-peers must be a whole number ≥ 1, not '-3'"],
      [['run', torrent, '--max-peers=0'], "bt-actor run: --max-peers must be a whole number ≥ 1, not '0'"],
      [['run', torrent, '--max-peers', '2.5'], "bt-actor run: --max-peers must be a whole number ≥ 1, not '2.5'"],
      [['run', torrent, '--port', '70000'], "bt-actor run: --port must be a whole number from 1 to 65535, not '70000'"],
      [['run', torrent, '--seed-ratio', '-1'], "bt-actor run: --seed-ratio must be a number ≥ 0, not '-1'"],
      [['run', torrent, '--seed-ratio', '1x'], "bt-actor run: --seed-ratio must be a number ≥ 0, not '1x'"],
      [
        ['run', torrent, '--encryption', 'always'],
        "bt-actor run: --encryption must be prefer, require, plaintext, not 'always'",
      ],
      [['info', torrent, '--timeout', '0'], "bt-actor info: --timeout must be a number of seconds > 0, not '0'"],
      [['demo', '--size', '0'], "bt-actor demo: --size must be a whole number from 1 to 65536, not '0'"],
      [['demo', '--seeders', '21'], "bt-actor demo: --seeders must be a whole number from 1 to 20, not '21'"],
    ];
    for (const [argv, line] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.errLines).toEqual([line, `Run 'bt-actor ${argv[0]} --help' for its options.`]);
    }
  });

  it('--opt=value and --opt value both work; -- ends the options', async () => {
    const a = join(dir, 'eq.torrent');
    const b = join(dir, 'space.torrent');
    expect((await cli('create', join(dir, 'one.bin'), `--output=${a}`, '--no-date', '-a', 'http://t/a')).code).toBe(0);
    expect((await cli('create', join(dir, 'one.bin'), '--output', b, '--no-date', '-a', 'http://t/a')).code).toBe(0);
    expect(await readFile(a)).toEqual(await readFile(b));
    // After --, "--json" is the file to read, not the option.
    const r = await cli('info', '--', '--json');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.errLines[0]).toMatch(/^bt-actor: --json: /);
    expect(JSON.parse((await cli('info', '--json', '--', torrent)).out).name).toBe('one.bin');
  });

  it('a bad --inspect mode suggests the nearest', async () => {
    expect((await cli('run', torrent, '--inspect=locl')).errLines).toEqual([
      "bt-actor run: --inspect='locl' must be local or stately (did you mean local?)",
      RUN_HINT,
    ]);
  });

  it('over the installed bin: exit 2, two lines on stderr, no stack trace', async () => {
    const e = await exec(process.execPath, [BIN, 'run', 'x.torrent', '--ot', 'd']).catch(
      (x: { code: number; stdout: string; stderr: string }) => x,
    );
    expect(e).toMatchObject({ code: 2, stdout: '' });
    expect((e as { stderr: string }).stderr).toBe(
      `bt-actor run: unknown option --ot (did you mean --out?)\n${RUN_HINT}\n`,
    );
  });
});

describe('bt-actor help, -V/--version', () => {
  it('help <command> shows that command’s help; help alone the general one', async () => {
    for (const c of ['run', 'info', 'create', 'demo']) {
      const viaHelp = await cli('help', c);
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.out).toMatch(new RegExp(`^Usage: bt-actor ${c} `));
      expect(viaHelp.out).toBe((await cli(c, '--help')).out);
    }
    const general = await cli('help');
    expect(general.code).toBe(0);
    expect(general.out).toMatch(/^Usage: bt-actor <command>/);
    expect(await cli('help', 'rnu')).toMatchObject({
      code: 2,
      errLines: ["bt-actor: unknown command 'rnu' (did you mean 'run'?)", COMMANDS_HINT],
    });
  });

  it('-V and --version print the version; the usage lists them', async () => {
    const pkg = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['-V', '--version']) {
      const { stdout } = await exec(process.execPath, [BIN, flag]);
      expect(stdout).toBe(`bt-actor ${pkg.version}\n`);
    }
    const usage = (await cli('--help')).out;
    expect(usage).toMatch(/^\s+-V, --version\s+Show the version$/m);
    expect(usage).toMatch(/^\s+help \[command\]\s+/m);
  });
});

describe('--peer HOST:PORT', () => {
  it('resolves a host name, keeps IP addresses and [IPv6]:port', async () => {
    expect(await resolvePeerArg('localhost:6881')).toEqual({ host: '127.0.0.1', port: 6881, family: 4 });
    expect(await resolvePeerArg('[::1]:6882')).toEqual({ host: '::1', port: 6882, family: 6 });
    expect(await resolvePeerArg('10.1.2.3:80')).toEqual({ host: '10.1.2.3', port: 80, family: 4 });
    expect(await resolvePeerArg('localhost:0')).toMatch(/^--peer localhost:0: not HOST:PORT/);
    expect(await resolvePeerArg('[nonsense]:1')).toBe('--peer [nonsense]:1: nonsense is not an IPv6 address');
  });

  it('a name that does not resolve is refused with one line, exit 2', async () => {
    expect(await cli('run', torrent, '--peer', 'nosuch.invalid:6881')).toMatchObject({
      code: 2,
      out: '',
      errLines: ['bt-actor: --peer nosuch.invalid:6881: cannot resolve nosuch.invalid'],
    });
    expect((await cli('run', torrent, '--peer', 'nohost')).errLines).toEqual([
      'bt-actor: --peer nohost: not HOST:PORT (a host name or IP address, [::1]:6881 for IPv6, and a port 1-65535)',
    ]);
  });

  describe('with a seeder', () => {
    let swarm: LocalSwarm;
    beforeAll(async () => {
      swarm = await startLocalSwarm({ sizeMiB: 1, seeders: 1, pieceLength: 64 * 1024 });
    }, 60_000);
    afterAll(() => swarm?.close());

    it('run --peer localhost:PORT downloads from the peer the name resolves to', async () => {
      const seeder = swarm.seeders[0]!.listener.port;
      const out = join(dir, 'peer-by-name');
      const lines: Record<string, unknown>[] = [];
      const code = await main(
        [
          'run',
          swarm.quietTorrentPath, // no tracker: the named peer is the only source
          '--out',
          out,
          '--json',
          '--bind',
          '127.0.0.1',
          '--port',
          String(await freePort()),
          '--peer',
          `localhost:${seeder}`,
        ],
        { out: (l) => lines.push(JSON.parse(l) as Record<string, unknown>), err: () => {} },
      );
      expect(code).toBe(0);
      expect(lines).toContainEqual(expect.objectContaining({ event: 'peer-connected', key: `127.0.0.1:${seeder}` }));
      expect(lines.at(-1)).toMatchObject({ event: 'done', complete: true });
      // Buffer.equals: a deep toEqual of 1 MiB takes seconds.
      const got = await readFile(join(out, swarm.meta.name));
      expect(got.equals(await readFile(join(swarm.seedDir, swarm.meta.name)))).toBe(true);
    }, 60_000);
  });
});

describe('bt-actor create', () => {
  const input = () => join(dir, 'one.bin');

  it('refuses to overwrite -o without --force (exit 2, one line, the file untouched); --force overwrites', async () => {
    const out = join(dir, 'exists.torrent');
    await writeFile(out, 'precious');
    const r = await cli('create', input(), '-o', out, '-a', 'http://t/a');
    expect(r).toMatchObject({
      code: 2,
      out: '',
      errLines: [`bt-actor create: ${out} already exists (add --force to overwrite it)`],
    });
    expect(await readFile(out, 'utf8')).toBe('precious');
    const forced = await cli('create', input(), '-o', out, '-a', 'http://t/a', '--force');
    expect(forced.code).toBe(0);
    expect(parseMetainfo(await readFile(out)).name).toBe('one.bin');
    expect((await cli('create', input(), '-o', out, '-a', 'http://t/a', '-f')).code).toBe(0);
  });

  it('warns on stderr, in one line, when the torrent has no tracker (and not when it has one)', async () => {
    const none = await cli('create', input(), '-o', join(dir, 'no-tracker.torrent'));
    expect(none.code).toBe(0);
    expect(none.outLines).toHaveLength(1);
    expect(none.errLines).toEqual([
      'bt-actor create: warning: no tracker: peers can find it only through --peer (add one with -a URL)',
    ]);
    const json = await cli('create', input(), '-o', join(dir, 'no-tracker-json.torrent'), '--json');
    expect(JSON.parse(json.out).announce).toEqual([]); // stdout stays one JSON object
    expect(json.errLines).toHaveLength(1);
    const some = await cli('create', input(), '-o', join(dir, 'tracker.torrent'), '-a', 'http://t/a');
    expect(some.errLines).toEqual([]);
  });

  it('a missing output folder, an output that is a folder, a missing input: one clean line, exit 2', async () => {
    const missing = join(dir, 'no', 'such', 'x.torrent');
    expect(await cli('create', input(), '-o', missing, '-a', 'http://t/a')).toMatchObject({
      code: 2,
      errLines: [`bt-actor create: cannot write ${missing}: the folder ${join(dir, 'no', 'such')} does not exist`],
    });
    expect(existsSync(join(dir, 'no'))).toBe(false);
    const underFile = join(input(), 'x.torrent');
    expect((await cli('create', input(), '-o', underFile)).errLines).toEqual([
      `bt-actor create: cannot write ${underFile}: ${input()} is not a folder`,
    ]);
    expect((await cli('create', input(), '-o', dir)).errLines).toEqual([
      `bt-actor create: ${dir} is a folder (-o names the .torrent file to write)`,
    ]);
    const nothing = join(dir, 'nothing-here');
    expect(await cli('create', nothing, '-o', join(dir, 'n.torrent'))).toMatchObject({
      code: 2,
      errLines: [`bt-actor create: ${nothing}: no such file or folder`],
    });
  });

  it.skipIf(process.getuid?.() === 0)('an unreadable file in the input: one clean line, exit 2', async () => {
    const folder = join(dir, 'locked');
    await mkdir(folder);
    await writeFile(join(folder, 'secret'), 'x');
    await chmod(join(folder, 'secret'), 0o000);
    const r = await cli('create', folder, '-o', join(dir, 'locked.torrent'));
    expect(r).toMatchObject({
      code: 2,
      errLines: [`bt-actor create: cannot read ${join(folder, 'secret')}: permission denied [EACCES]`],
    });
  });
});

describe('bt-actor demo --keep', () => {
  it('keeps the torrent, the source and the download under the one folder it prints', async () => {
    const { stdout } = await exec(
      process.execPath,
      [BIN, 'demo', '--size', '1', '--seeders', '1', '--keep', '--json'],
      {
        timeout: 60_000,
      },
    );
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const kept = lines.at(-1)!;
    expect(kept).toMatchObject({ event: 'demo', message: expect.stringMatching(/^kept /) });
    const folder = kept.kept as string;
    try {
      expect(String(kept.message)).toContain(folder);
      expect((await readdir(folder)).sort()).toEqual(['bt-actor demo set.torrent', 'download', 'seed']);
      expect(kept.torrent).toBe(join(folder, 'bt-actor demo set.torrent'));
      // The kept torrent is valid: info reads it, and it describes the kept download.
      const info = await exec(process.execPath, [BIN, 'info', '--json', kept.torrent as string]);
      const json = JSON.parse(info.stdout) as { name: string; files: { path: string; length: number }[] };
      expect(json.name).toBe('bt-actor demo set');
      for (const f of json.files) {
        const data = await readFile(join(folder, 'download', json.name, f.path));
        expect(data.length).toBe(f.length);
        expect(data.equals(await readFile(join(folder, 'seed', json.name, f.path))), f.path).toBe(true);
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }, 90_000);
});
