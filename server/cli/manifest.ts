import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { withServices, type GlobalOptions } from './context.ts';
import { AptfreezeError } from '../errors.ts';

interface ManifestOptions {
  root: string;
  pins?: string;
  server?: string;
  serial: string[];
  output?: string;
}

/**
 * `aptfreeze manifest --root <chroot>`: the build manifest (Tails format) of a chroot. The
 * serials come from `--serial <archive>=<serial>` (repeated) or from a pins directory
 * resolved against `--server`. With `--server`, what each serial served is read from that
 * server (a builder has no data directory); without, from the data directory.
 */
export function register(program: Command, globals: () => GlobalOptions): void {
  program
    .command('manifest')
    .description('print the build manifest (Tails format) of a chroot: its installed packages and the serials they came from')
    .requiredOption('--root <chroot>', 'the built chroot (its var/lib/dpkg/status is read)')
    .option('--pins <dir>', 'a pins directory (<dir>/<archive>/serial); latest is resolved against --server')
    .option('--server <url>', 'the aptfreeze server (env APTFREEZE_SERVER); without it, the data directory is read')
    .option('--serial <archive=serial>', 'a serial the chroot was built from (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--output <file>', 'write the manifest to a file instead of stdout')
    .action(async (opts: ManifestOptions) => {
      const server = opts.server ?? process.env['APTFREEZE_SERVER'];
      const [{ readPins }, { resolvePins }, { ServerClient }, { emitBuildManifest }, { manifestOfChroot }, { localCatalog, remoteCatalog }] = await Promise.all([
        import('../pins/files.ts'),
        import('../pins/resolve.ts'),
        import('../pins/client.ts'),
        import('../tags/build-manifest.ts'),
        import('../tags/from-chroot.ts'),
        import('../tags/catalog.ts'),
      ]);
      const origins = new Map<string, string>();
      for (const v of opts.serial) {
        const m = /^([a-z0-9][a-z0-9.+-]*)=(\d{10})$/.exec(v);
        if (!m) throw new AptfreezeError('BAD_REQUEST', `--serial ${v}: expected <archive>=<serial YYYYMMDDNN>`);
        origins.set(m[1]!, m[2]!);
      }
      if (opts.pins) {
        if (!server) throw new AptfreezeError('BAD_REQUEST', 'manifest --pins: --server <url> (or APTFREEZE_SERVER) is required');
        const pins = readPins(opts.pins);
        for (const [a, p] of pins) if (p.startsWith('tag:')) throw new AptfreezeError('BAD_REQUEST', `pin of ${a} is ${p}: a manifest names serials, not tags`);
        const resolved = await resolvePins(new ServerClient(server), pins, new Date());
        for (const [a, r] of Object.entries(resolved.archives)) if (!origins.has(a)) origins.set(a, r.serial);
      }
      const manifest = server
        ? await manifestOfChroot(opts.root, origins, remoteCatalog(server))
        : await withServices(globals(), (s) => manifestOfChroot(opts.root, origins, localCatalog(s)));
      const text = emitBuildManifest(manifest);
      if (opts.output) writeFileSync(opts.output, text);
      else process.stdout.write(text);
    });
}
