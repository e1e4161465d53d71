import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

/**
 * Reads the host's own APT sources (one-line `sources.list` and deb822
 * `.sources`) so that a fresh install mirrors what the host already uses,
 * without any mirror address written in the project.
 */
export interface HostSource {
  uri: string;
  suites: string[];
  components: string[];
  architectures?: string[];
  signedBy?: string;
  file: string;
}

/** Reads `<etcApt>/sources.list` and `<etcApt>/sources.list.d/*.{list,sources}`. */
export function readHostSources(etcApt: string): HostSource[] {
  const out: HostSource[] = [];
  const files: string[] = [];
  if (existsSync(join(etcApt, 'sources.list'))) files.push(join(etcApt, 'sources.list'));
  const d = join(etcApt, 'sources.list.d');
  if (existsSync(d)) for (const f of readdirSync(d).sort()) if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join(d, f));
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    out.push(...(file.endsWith('.sources') ? parseDeb822Sources(text, file) : parseOneLineSources(text, file)));
  }
  return out.filter((s) => /^https?:\/\//.test(s.uri));
}

export function parseOneLineSources(text: string, file: string): HostSource[] {
  const out: HostSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m || m[1] !== 'deb') continue;
    const opts = Object.fromEntries(
      (m[2] ?? '')
        .split(/\s+/)
        .filter(Boolean)
        .map((o) => o.split('=', 2) as [string, string]),
    );
    const components = (m[5] ?? '').split(/\s+/).filter(Boolean);
    if (components.length === 0) continue; // a flat repository: not mirrored by default
    out.push({
      uri: m[3]!,
      suites: [m[4]!],
      components,
      architectures: opts['arch'] ? opts['arch'].split(',') : undefined,
      signedBy: opts['signed-by'],
      file,
    });
  }
  return out;
}

export function parseDeb822Sources(text: string, file: string): HostSource[] {
  const out: HostSource[] = [];
  for (const block of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^[ \t]/.test(line) && last) {
        fields.set(last, `${fields.get(last)}\n${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1]!.toLowerCase();
        fields.set(last, m[2]!.trim());
      }
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const list = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    const signedBy = fields.get('signed-by');
    for (const uri of list('uris')) {
      const components = list('components');
      if (components.length === 0) continue;
      out.push({
        uri,
        suites: list('suites'),
        components,
        architectures: fields.has('architectures') ? list('architectures') : undefined,
        // An inline key block (deb822 allows one) is not a path: fall back to the default keyring.
        signedBy: signedBy && !signedBy.includes('\n') && signedBy.startsWith('/') ? signedBy : undefined,
        file,
      });
    }
  }
  return out;
}

export function hostArchitecture(): string {
  try {
    return execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  } catch {
    return ({ x64: 'amd64', arm64: 'arm64', ia32: 'i386' } as Record<string, string>)[process.arch] ?? 'amd64';
  }
}

/** `http://host/debian-security/` -> `debian-security`; made unique by the caller. */
export function archiveNameFor(uri: string): string {
  const path = new URL(uri).pathname.replace(/\/+$/, '');
  const last = path.split('/').pop() || new URL(uri).hostname.split('.')[0] || 'archive';
  const name = last.toLowerCase().replace(/[^a-z0-9._-]/g, '-').replace(/^[^a-z0-9]+/, '');
  return name || 'archive';
}
