import { createHash } from 'node:crypto';
import { AptfreezeError } from '../errors.ts';
import type { Services } from '../services.ts';
import { parseRelease } from '../debian/release.ts';
import { compressionOf, decompressBuffer, stripCompression } from '../debian/compress.ts';
import { readPackagesText } from '../snapshot/packages-reader.ts';
import { proofComponent } from '../proof/manifest.ts';
import { ServerClient } from '../pins/client.ts';
import { binaryKey } from './build-manifest.ts';
import { openSerial, packagesOf } from './serial-source.ts';

/**
 * Which binary packages (`package version arch` keys, build-manifest.ts) a serial served: what
 * `aptfreeze manifest` checks a chroot against. Two faces: the data directory (the CLI on the
 * service's host), and a server's published tree (a builder, who has no data directory).
 */
export interface Catalog {
  binaries(archive: string, serial: string): Promise<Set<string>>;
}

export function localCatalog(s: Pick<Services, 'repo' | 'store' | 'config'>): Catalog {
  return {
    async binaries(archive, serial) {
      const src = await openSerial(s, archive, serial);
      const out = new Set<string>();
      for (const g of src.groups) {
        if (g.kind !== 'packages') continue;
        for await (const e of packagesOf(s.store, g, s.config.fetch.maxDecompressedBytes)) out.add(binaryKey({ package: e.package, version: e.version, arch: e.architecture }));
      }
      return out;
    },
  };
}

/**
 * From a server: each suite's Release of the serial, then each Packages index it lists (one
 * variant, its sha256 checked against that Release). The Release's signature is not checked
 * here: the manifest is an input to `tag create`, which takes every stanza from the serial
 * itself, on the service's side.
 */
export function remoteCatalog(server: string, opts: { maxBytes?: number } = {}): Catalog {
  const client = new ServerClient(server);
  const maxBytes = opts.maxBytes ?? 2 * 1024 * 1024 * 1024;
  const get = async (path: string): Promise<Buffer> => {
    let res: Response;
    try {
      res = await fetch(`${client.base}${path}`, { signal: AbortSignal.timeout(60_000) });
    } catch (e) {
      throw new AptfreezeError('UPSTREAM_HTTP', `cannot reach the aptfreeze server ${client.base}: ${(e as Error).message}`, { cause: e });
    }
    if (res.status === 404) throw new AptfreezeError('NOT_FOUND', `${client.base}${path}: not found`);
    if (res.status === 410) throw new AptfreezeError('GONE', `${client.base}${path}: collected`);
    if (!res.ok) throw new AptfreezeError('UPSTREAM_HTTP', `${client.base}${path}: ${res.status} ${res.statusText}`);
    return Buffer.from(await res.arrayBuffer());
  };
  return {
    async binaries(archive, serial) {
      await client.serial(archive, serial);
      const { suites } = await client.archive(archive);
      const out = new Set<string>();
      for (const suite of suites) {
        const base = `/${archive}/${serial}/dists/${suite.split('/').map(encodeURIComponent).join('/')}`;
        const release = parseRelease((await get(`${base}/Release`)).toString('utf8'));
        const groups = new Map<string, typeof release.sha256>();
        for (const e of release.sha256) {
          if (!/(^|\/)binary-[^/]+\/Packages(\.[a-z0-9]+)?$/.test(e.path) || e.path.startsWith(`${proofComponent}/`)) continue;
          const list = groups.get(stripCompression(e.path)) ?? [];
          list.push(e);
          groups.set(stripCompression(e.path), list);
        }
        for (const list of groups.values()) {
          const order = ['gz', 'none', 'xz', 'zst', 'lz4', 'bz2'];
          const sorted = [...list].sort((a, b) => order.indexOf(compressionOf(a.path)) - order.indexOf(compressionOf(b.path)));
          let data: Buffer | null = null;
          let entry = sorted[0]!;
          for (const e of sorted) {
            try {
              data = await get(`${base}/${e.path}`);
              entry = e;
              break;
            } catch (err) {
              // A Release may list a variant not served (the uncompressed name Debian lists): try the next.
              if (!(err instanceof AptfreezeError && err.code === 'NOT_FOUND')) throw err;
            }
          }
          if (!data) throw new AptfreezeError('NOT_FOUND', `${client.base}${base}/${stripCompression(entry.path)}: no variant served`);
          const sha = createHash('sha256').update(data).digest('hex');
          if (sha !== entry.hash || data.length !== entry.size) throw new AptfreezeError('HASH_MISMATCH', `${client.base}${base}/${entry.path}: not the file its Release lists`);
          const plain = await decompressBuffer(compressionOf(entry.path), data, { maxBytes });
          for (const e of readPackagesText(plain, `${archive}/${serial}/${suite}/${entry.path}`)) out.add(binaryKey({ package: e.package, version: e.version, arch: e.architecture }));
        }
      }
      return out;
    },
  };
}
