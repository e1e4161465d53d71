// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per source file,
// and inclusive ("total") time per function, so the report can say where a step's time goes.
import { readFile } from 'node:fs/promises';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileLine {
  name: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** self time by function (name @ file:line) */
  selfByFunction: ProfileLine[];
  /** self time by source file (project files by path, node internals and modules grouped) */
  selfByFile: ProfileLine[];
  /** inclusive time of project functions (server/...) */
  totalByFunction: ProfileLine[];
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return `node_modules/${u.slice(nm + 14).split('/').slice(0, u.slice(nm + 14).startsWith('@') ? 2 : 1).join('/')}`;
  const i = u.indexOf('/server/');
  if (i >= 0) return u.slice(i + 1);
  const j = u.indexOf('/scripts/');
  if (j >= 0) return u.slice(j + 1);
  if (u.startsWith('node:')) return u;
  return u;
}

export async function summariseProfile(file: string, top = 15): Promise<ProfileSummary> {
  const prof = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  // Self time per node from samples and time deltas (more exact than hitCount × interval).
  const selfUs = new Map<number, number>();
  if (prof.samples && prof.timeDeltas) {
    for (let i = 0; i < prof.samples.length; i++) {
      const dt = prof.timeDeltas[i + 1] ?? 0;
      selfUs.set(prof.samples[i]!, (selfUs.get(prof.samples[i]!) ?? 0) + Math.max(0, dt));
    }
  } else {
    const interval = (prof.endTime - prof.startTime) / Math.max(1, prof.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0));
    for (const n of prof.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * interval);
  }
  const totalUs = prof.endTime - prof.startTime;
  const label = (n: CpuNode) => {
    const f = n.callFrame;
    const name = f.functionName || '(anonymous)';
    if (!f.url) return name;
    // tsx's transpiled line numbers do not match the .ts source: name the file only.
    return /\.ts$/.test(f.url) ? `${name} @ ${shortUrl(f.url)}` : `${name} @ ${shortUrl(f.url)}:${f.lineNumber + 1}`;
  };
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  for (const n of prof.nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (!us) continue;
    fnSelf.set(label(n), (fnSelf.get(label(n)) ?? 0) + us);
    const fk = n.callFrame.url ? shortUrl(n.callFrame.url) : n.callFrame.functionName || '(native)';
    fileSelf.set(fk, (fileSelf.get(fk) ?? 0) + us);
  }
  // Inclusive time of project functions: sum of the subtree's self time, counting a function
  // once per path (recursion is not double counted).
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const fnTotal = new Map<string, number>();
  for (const n of prof.nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (!us) continue;
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const a = byId.get(id)!;
      if (!/\/(server|scripts)\//.test(a.callFrame.url)) continue;
      const l = label(a);
      if (seen.has(l)) continue;
      seen.add(l);
      fnTotal.set(l, (fnTotal.get(l) ?? 0) + us);
    }
  }
  const lines = (m: Map<string, number>): ProfileLine[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), pct: Math.round((1000 * us) / totalUs) / 10 }));
  return { file, totalMs: Math.round(totalUs / 1000), selfByFunction: lines(fnSelf), selfByFile: lines(fileSelf), totalByFunction: lines(fnTotal) };
}

export function formatProfile(p: ProfileSummary): string {
  const fmt = (title: string, ls: ProfileLine[]) => [`  ${title}:`, ...ls.map((l) => `    ${String(l.ms).padStart(7)} ms ${String(l.pct).padStart(5)}%  ${l.name}`)].join('\n');
  return [`profile ${p.file} (${p.totalMs} ms)`, fmt('self time by function', p.selfByFunction), fmt('self time by file', p.selfByFile), fmt('inclusive time, project functions', p.totalByFunction)].join('\n');
}

// `node --import tsx scripts/bench/profile.ts <file.cpuprofile>…` prints the summaries.
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const f of process.argv.slice(2)) process.stdout.write(`${formatProfile(await summariseProfile(f, 25))}\n\n`);
}
