// The auditor's lookup of packages in a decompressed Packages text without parsing all of it
// (server/verify/packages-lookup.ts): what it finds must be what a full read by the one Packages reader finds.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { PackagesLookup, entriesAt, entriesNamed } from '../server/verify/packages-lookup.ts';
import { packageEntries } from '../server/verify/indices.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function stanza(name: string, extra = ''): string {
  return `Package: ${name}\nVersion: 1.0-1\nArchitecture: amd64\nFilename: pool/main/${name[0]}/${name}/${name}_1.0-1_amd64.deb\nSize: ${name.length * 100}\nSHA256: ${sha(name)}\n${extra}Description: ${name}\n`;
}

describe('finding packages in a Packages text without a full parse', () => {
  const names = Array.from({ length: 200 }, (_, i) => `pkg${i}`);
  // A stanza whose Description quotes another package's hash; one separated by a line of spaces.
  const text = Buffer.from(
    names.map((n, i) => (i === 7 ? stanza(n, ` quoting ${sha('pkg8')}\n`.replace(/^ /, 'X-Note:')) : stanza(n))).join('\n') + ' \t\n' + stanza('spaced'),
  );

  it('finds exactly the stanzas a full parse lists for each hash, before and after the lookup maps its hashes', () => {
    const full = new Map<string, string[]>();
    for (const e of packageEntries(text, 'Packages')) {
      if (!e.invalid) full.set(e.sha256, [...(full.get(e.sha256) ?? []), e.key]);
    }
    const lookup = new PackagesLookup(text);
    // More queries than the direct searches: the later ones go through the map.
    for (const n of [...names, 'spaced']) {
      const got = entriesAt(lookup, sha(n)).map((e) => e.key);
      assert.deepEqual(got, full.get(sha(n)), n);
    }
    assert.deepEqual(entriesAt(lookup, sha('absent')), []);
    assert.equal(lookup.count, names.length + 1);
  });

  it('finds a package by file name for the "same name, other bytes" message', () => {
    const lookup = new PackagesLookup(text);
    for (let i = 0; i < 20; i++) {
      const got = entriesNamed(lookup, `pkg${i}_1.0-1_amd64.deb`);
      assert.deepEqual(got.map((e) => e.package), [`pkg${i}`]);
    }
    assert.deepEqual(entriesNamed(lookup, 'nothing_1_amd64.deb'), []);
  });

  it('gives no entry for a malformed stanza, whichever hash it names', () => {
    const bad = Buffer.from(`${stanza('a')}\nPackage: b\nPackage: b\nSHA256: ${sha('b')}\n`);
    const lookup = new PackagesLookup(bad);
    assert.equal(entriesAt(lookup, sha('a')).length, 1);
    assert.throws(() => entriesAt(lookup, sha('b')), (e: Error & { code?: string }) => e.code === 'MALFORMED');
  });
});
