import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { AptfreezeError } from '../errors.ts';
import { parseDuration } from '../config/duration.ts';
import { readPins, writePin, checkArchiveName, isTagPin, type PinValue } from '../pins/files.ts';
import { ServerClient } from '../pins/client.ts';
import type { PinCheck } from '../pins/resolve.ts';

/**
 * The builder's side: pin files in a build tree, and a server to resolve them
 * against (its public JSON API; no token, no data directory).
 *
 *   pins show     the pins (and, with --server, what each stands for now)
 *   pins freeze   each archive's pin := its latest serial (--except A: A := latest)
 *   pins thaw     each pin := latest
 *   pins resolve  latest -> the serial it stands for now; JSON on stdout (or --out);
 *                 --from <file> takes such a JSON back and reproduces it (same serials)
 *   pins check    fails naming each pinned serial valid for less than --min-valid, or gone
 *
 * Which archives: those named on the command line, else those pinned in --dir,
 * else (freeze) every archive the server has published.
 */

interface PinsOptions {
  dir?: string;
  server?: string;
  json?: boolean;
}

function dirOf(o: PinsOptions): string {
  const d = o.dir ?? process.env['APTFREEZE_PINS'];
  if (!d) throw new AptfreezeError('BAD_REQUEST', 'pins: --dir <dir> (or APTFREEZE_PINS) is required');
  return d;
}

function clientOf(o: PinsOptions, fallback?: string): ServerClient {
  const s = o.server ?? process.env['APTFREEZE_SERVER'] ?? fallback;
  if (!s) throw new AptfreezeError('BAD_REQUEST', 'pins: --server <url> (or APTFREEZE_SERVER) is required');
  return new ServerClient(s);
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** The archives a command works on; positional names win, then the pinned ones. */
function selected(names: string[], pins: Map<string, PinValue>): string[] {
  for (const n of names) checkArchiveName(n);
  return names.length ? names : [...pins.keys()];
}

export function register(program: Command): void {
  const pins = program.command('pins').description("the builder's pin files <dir>/<archive>/serial (a serial or latest), resolved against a server");
  const common = (c: Command) =>
    c.option('--dir <dir>', 'the pins directory (env APTFREEZE_PINS)').option('--server <url>', 'the aptfreeze server (env APTFREEZE_SERVER)').option('--json', 'print JSON');

  common(pins.command('show').description('list the pins; with --server also the serial each stands for now and its validity').argument('[archives...]')).action(
    async (names: string[], o: PinsOptions) => {
      const all = readPins(dirOf(o));
      const list = selected(names, all);
      const server = o.server ?? process.env['APTFREEZE_SERVER'];
      const rows: Array<{ archive: string; pin: PinValue | null; serial?: string | null; state?: string | null; validUntil?: string | null }> = [];
      const client = server ? new ServerClient(server) : null;
      const archives = client ? await client.archives() : [];
      for (const archive of list) {
        const pin = all.get(archive) ?? null;
        if (!client || !pin) {
          rows.push({ archive, pin });
          continue;
        }
        const serial = pin === 'latest' ? (archives.find((a) => a.name === archive)?.latest ?? null) : pin;
        let state: string | null = null;
        let validUntil: string | null = null;
        if (serial && isTagPin(serial)) {
          state = await client.tag(serial.slice(4), archive).then(
            () => 'tag',
            (e: unknown) => {
              if (!(e instanceof AptfreezeError) || e.code !== 'NOT_FOUND') throw e;
              return 'unknown';
            },
          );
        } else if (serial) {
          try {
            const v = await client.serial(archive, serial);
            state = v.state;
            validUntil = v.validUntil;
          } catch (e) {
            if (!(e instanceof AptfreezeError) || (e.code !== 'GONE' && e.code !== 'NOT_FOUND')) throw e;
            state = e.code === 'GONE' ? 'collected' : 'unknown';
          }
        }
        rows.push({ archive, pin, serial, state, validUntil });
      }
      if (o.json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      for (const r of rows) {
        const now = client && r.pin ? `  -> ${r.serial ?? '(none)'} ${r.state ?? ''}${r.validUntil ? ` valid until ${r.validUntil}` : ''}` : '';
        process.stdout.write(`${r.archive} ${r.pin ?? '(not pinned)'}${now}\n`);
      }
    },
  );

  common(
    pins
      .command('freeze')
      .description("pin each archive to its latest serial now (--except <archive>: that one stays at latest, as a security archive usually does)")
      .argument('[archives...]')
      .option('--except <archive>', 'leave this archive at latest (repeatable)', collect, [] as string[]),
  ).action(async (names: string[], o: PinsOptions & { except: string[] }) => {
    const dir = dirOf(o);
    const client = clientOf(o);
    const archives = await client.archives();
    const pinned = readPins(dir);
    for (const e of o.except) checkArchiveName(e);
    let list = selected(names, pinned);
    if (list.length === 0) list = archives.filter((a) => a.latest).map((a) => a.name);
    for (const e of o.except) if (!list.includes(e)) list.push(e);
    const written: Record<string, PinValue> = {};
    for (const archive of list.sort()) {
      const a = archives.find((x) => x.name === archive);
      if (!a) throw new AptfreezeError('NOT_FOUND', `${client.base}: unknown archive ${archive}`);
      const value = o.except.includes(archive) ? 'latest' : a.latest;
      if (!value) throw new AptfreezeError('NOT_FOUND', `${archive} has no published serial yet`);
      written[archive] = value;
    }
    // Every archive checked before any file is written: a failed freeze leaves the pins as they were.
    for (const [archive, value] of Object.entries(written)) writePin(dir, archive, value);
    if (o.json) return void process.stdout.write(`${JSON.stringify(written, null, 2)}\n`);
    for (const [archive, value] of Object.entries(written)) process.stdout.write(`${archive} ${value}\n`);
  });

  common(pins.command('thaw').description('pin each archive to latest').argument('[archives...]')).action(async (names: string[], o: PinsOptions) => {
    const dir = dirOf(o);
    let list = selected(names, readPins(dir));
    if (list.length === 0) list = (await clientOf(o).archives()).filter((a) => a.latest).map((a) => a.name);
    for (const archive of list.sort()) writePin(dir, archive, 'latest');
    if (o.json) return void process.stdout.write(`${JSON.stringify(Object.fromEntries(list.map((a) => [a, 'latest'])), null, 2)}\n`);
    for (const archive of list) process.stdout.write(`${archive} latest\n`);
  });

  common(
    pins
      .command('resolve')
      .description('turn every latest into the serial it stands for now and print the set as JSON; --from <file> reproduces a set printed before')
      .option('--from <file>', 'a resolved set (JSON) to reproduce: the same serials, checked to be still served')
      .option('--out <file>', 'write the JSON there instead of stdout'),
  ).action(async (o: PinsOptions & { from?: string; out?: string }) => {
    const { formatResolved, parseResolved, reproduce, resolvePins } = await import('../pins/resolve.ts');
    let text: string;
    if (o.from) {
      const r = parseResolved(readFileSync(o.from, 'utf8'), o.from);
      text = formatResolved(await reproduce(clientOf(o, r.server), r));
    } else {
      const client = clientOf(o);
      text = formatResolved(await resolvePins(client, readPins(dirOf(o)), new Date()));
    }
    if (o.out) writeFileSync(o.out, text);
    else process.stdout.write(text);
  });

  common(
    pins
      .command('check')
      .description('fail, naming each, when a pinned serial is valid for less than --min-valid or is gone (a release pre-flight check)')
      .argument('[archives...]')
      .requiredOption('--min-valid <duration>', 'e.g. 30d')
      .option('--from <file>', 'check a resolved set instead of the pins directory'),
  ).action(async (names: string[], o: PinsOptions & { minValid: string; from?: string }) => {
    const { checkPins, parseResolved } = await import('../pins/resolve.ts');
    const minValidMs = parseDuration(o.minValid, '--min-valid');
    const set = new Map<string, { pin: PinValue; serial?: string }>();
    let client: ServerClient;
    if (o.from) {
      const r = parseResolved(readFileSync(o.from, 'utf8'), o.from);
      client = clientOf(o, r.server);
      for (const [a, v] of Object.entries(r.archives)) set.set(a, v);
    } else {
      client = clientOf(o);
      for (const [a, pin] of readPins(dirOf(o))) set.set(a, { pin });
    }
    for (const n of names) checkArchiveName(n);
    if (names.length) for (const a of [...set.keys()]) if (!names.includes(a)) set.delete(a);
    if (set.size === 0) throw new AptfreezeError('NOT_FOUND', 'pins check: no pins to check');
    const results = await checkPins(client, set, minValidMs, new Date());
    if (o.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    else for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${line(r)}\n`);
    const bad = results.filter((r) => !r.ok);
    if (bad.length) {
      throw new AptfreezeError('VERIFY_FAILED', `${bad.length} of ${results.length} pins not valid for ${o.minValid}: ${bad.map((r) => `${r.archive} ${r.serial ?? r.pin} (${r.problem})`).join(', ')}`);
    }
  });
}

function line(r: PinCheck): string {
  const pin = r.pin === 'latest' ? `latest=${r.serial ?? '(none)'}` : r.pin;
  return `${r.archive} ${pin}${r.state ? ` ${r.state}` : ''}${r.validUntil ? ` valid until ${r.validUntil}` : ''}${r.problem ? `: ${r.problem}` : ''}`;
}
