// fsck of the object store and its publication catalog (issue 15): what a reader needs to answer
// every published serial whole. The catalog is the record; the store is listed once (sizes from
// the listing), so a check costs one LIST page per 1,000 objects, not a request per file;
// `deep` also reads every referenced blob back and hashes it.
//
//   latest-not-published   `latest` names a serial the catalog does not have, or one collected
//   no-signed-release      a serial answers no dists/<suite>/InRelease
//   blob-missing           a path of a serial names a blob the store does not hold
//   blob-size              the stored object's size is not the listed size
//   blob-hash              (deep) the stored bytes do not hash to their name
//   collected-has-files    a collected serial still lists files (its blobs would never be collected)
import { createHash } from 'node:crypto';
import type { BlobStore } from '../store/port.ts';
import type { PgPublicationCatalog } from '../catalog/pg-publication.ts';

export type ObjectFinding = { code: 'latest-not-published' | 'no-signed-release' | 'blob-missing' | 'blob-size' | 'blob-hash' | 'collected-has-files'; where: string; message: string };

export interface ObjectFsckReport {
  archives: number;
  serials: number;
  files: number;
  blobs: number;
  findings: ObjectFinding[];
}

export async function checkObjectStore(
  catalog: Pick<PgPublicationCatalog, 'archives' | 'latest' | 'serials' | 'files'>,
  store: Pick<BlobStore, 'readStream'> & { listSized(): AsyncIterable<{ sha256: string; size: number }> },
  opts: { deep?: boolean } = {},
): Promise<ObjectFsckReport> {
  const sizes = new Map<string, number>();
  for await (const o of store.listSized()) sizes.set(o.sha256, o.size);
  const report: ObjectFsckReport = { archives: 0, serials: 0, files: 0, blobs: 0, findings: [] };
  const add = (code: ObjectFinding['code'], where: string, message: string) => report.findings.push({ code, where, message });
  const referenced = new Map<string, number>();
  for (const archive of await catalog.archives()) {
    report.archives++;
    const serials = await catalog.serials(archive);
    const latest = await catalog.latest(archive);
    const latestRow = serials.find((s) => s.serial === latest);
    if (latest !== null && (!latestRow || latestRow.collectedAt)) add('latest-not-published', archive, `latest is ${latest}, which is ${latestRow ? 'collected' : 'not published'}`);
    for (const s of serials) {
      const where = `${archive}/${s.serial}`;
      const files = await catalog.files(archive, s.serial);
      if (s.collectedAt) {
        if (files.length) add('collected-has-files', where, `collected at ${s.collectedAt} but lists ${files.length} files`);
        continue;
      }
      report.serials++;
      report.files += files.length;
      if (!files.some((f) => /^dists\/.+\/InRelease$/.test(f.path))) add('no-signed-release', where, 'no dists/<suite>/InRelease');
      for (const f of files) {
        const size = sizes.get(f.sha256);
        if (size === undefined) add('blob-missing', `${where}/${f.path}`, `blob ${f.sha256} is not in the store`);
        else if (size !== f.size) add('blob-size', `${where}/${f.path}`, `blob ${f.sha256} is ${size} bytes, listed as ${f.size}`);
        else referenced.set(f.sha256, f.size);
      }
    }
  }
  report.blobs = referenced.size;
  if (opts.deep) {
    for (const sha256 of referenced.keys()) {
      const h = createHash('sha256');
      for await (const chunk of store.readStream(sha256)) h.update(chunk);
      if (h.digest('hex') !== sha256) add('blob-hash', sha256, 'the stored bytes hash to another name');
    }
  }
  return report;
}
