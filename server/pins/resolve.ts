import { createRequire } from 'node:module';
import type * as Zod from 'zod';
import { AptfreezeError, isAptfreezeError } from '../errors.ts';
import type { ServerClient } from './client.ts';
import { checkArchiveName, isTagPin, serialRe, type PinValue } from './files.ts';

// zod as CommonJS, one instance with the lazy users (tags/build-manifest.ts says why).
const { z } = createRequire(import.meta.url)('zod') as typeof Zod;

/**
 * A resolved pin set: what one build used. `resolve` writes it; given back
 * (`--from`), it reproduces the build: the same serials, whatever `latest`
 * means by then.
 *
 *   { "format": "aptfreeze-pins/1", "server": "http://host:8080", "resolvedAt": "2026-11-27T07:00:00.000Z",
 *     "archives": { "debian": { "pin": "2026112701", "serial": "2026112701" },
 *                   "debian-security": { "pin": "latest", "serial": "2026112703" } } }
 */
export const resolvedFormat = 'aptfreeze-pins/1';

const resolvedSchema = z.strictObject({
  format: z.literal(resolvedFormat),
  server: z.string().min(1),
  resolvedAt: z.iso.datetime(),
  archives: z.record(
    z.string().regex(/^[a-z0-9][a-z0-9.+-]{0,62}$/),
    // A tag pin resolves to itself: a tag never moves.
    z.strictObject({ pin: z.union([z.literal('latest'), z.string().regex(serialRe), z.string().refine(isTagPin)]), serial: z.union([z.string().regex(serialRe), z.string().refine(isTagPin)]) }),
  ),
});

export type ResolvedSet = Zod.infer<typeof resolvedSchema>;

/** Parses a resolved set (outside data: every problem is BAD_REQUEST naming where). */
export function parseResolved(text: string, where: string): ResolvedSet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new AptfreezeError('BAD_REQUEST', `${where}: not JSON (${(e as Error).message})`);
  }
  const r = resolvedSchema.safeParse(doc);
  if (!r.success) throw new AptfreezeError('BAD_REQUEST', `${where}: not a resolved pin set (${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')})`);
  return r.data;
}

/** Stable text: archives sorted, two-space indent, final newline; the same set gives the same bytes. */
export function formatResolved(r: ResolvedSet): string {
  const archives = Object.fromEntries(Object.keys(r.archives).sort().map((k) => [k, { pin: r.archives[k]!.pin, serial: r.archives[k]!.serial }]));
  return `${JSON.stringify({ format: r.format, server: r.server, resolvedAt: r.resolvedAt, archives }, null, 2)}\n`;
}

/**
 * Turns every `latest` into the serial it stands for now, and checks that
 * every pinned serial is still served (NOT_FOUND / GONE otherwise).
 */
export async function resolvePins(client: ServerClient, pins: ReadonlyMap<string, PinValue>, now: Date): Promise<ResolvedSet> {
  if (pins.size === 0) throw new AptfreezeError('NOT_FOUND', 'no pins to resolve (expected <dir>/<archive>/serial files)');
  const archives = await client.archives();
  const out: ResolvedSet = { format: resolvedFormat, server: client.base, resolvedAt: now.toISOString(), archives: {} };
  for (const [archive, pin] of pins) {
    checkArchiveName(archive);
    const info = archives.find((a) => a.name === archive);
    if (!info) throw new AptfreezeError('NOT_FOUND', `${client.base}: unknown archive ${archive}`);
    if (isTagPin(pin)) {
      await client.tag(pin.slice(4), archive);
      out.archives[archive] = { pin, serial: pin };
      continue;
    }
    const serial = pin === 'latest' ? info.latest : pin;
    if (!serial) throw new AptfreezeError('NOT_FOUND', `${archive} has no published serial yet`);
    await client.serial(archive, serial);
    out.archives[archive] = { pin, serial };
  }
  return out;
}

/** A resolved set given back: every serial must still be served; the set itself is returned unchanged. */
export async function reproduce(client: ServerClient, r: ResolvedSet): Promise<ResolvedSet> {
  for (const [archive, { serial }] of Object.entries(r.archives)) await (isTagPin(serial) ? client.tag(serial.slice(4), archive) : client.serial(archive, serial));
  return r;
}

export interface PinCheck {
  archive: string;
  pin: PinValue;
  serial: string | null;
  state: string | null;
  validUntil: string | null;
  ok: boolean;
  /** Why it fails: `expires <date>`, `gone`, `unknown`. */
  problem?: string;
}

/**
 * A release's pre-flight check: each pinned serial (latest as it resolves
 * now) must be served and valid for at least `minValidMs` more.
 */
export async function checkPins(client: ServerClient, pins: ReadonlyMap<string, { pin: PinValue; serial?: string }>, minValidMs: number, now: Date): Promise<PinCheck[]> {
  const archives = await client.archives();
  const horizon = now.getTime() + minValidMs;
  const out: PinCheck[] = [];
  for (const [archive, { pin, serial: given }] of pins) {
    const info = archives.find((a) => a.name === archive);
    const serial = given ?? (pin === 'latest' ? (info?.latest ?? null) : pin);
    const base = { archive, pin, serial };
    if (serial && isTagPin(serial)) {
      // A tag has no Valid-Until: it passes any --min-valid while the server holds it.
      try {
        await client.tag(serial.slice(4), archive);
        out.push({ ...base, state: 'tag', validUntil: null, ok: true });
      } catch (e) {
        if (!isAptfreezeError(e) || e.code !== 'NOT_FOUND') throw e;
        out.push({ ...base, state: null, validUntil: null, ok: false, problem: 'unknown tag' });
      }
      continue;
    }
    if (!info || !serial) {
      out.push({ ...base, state: null, validUntil: null, ok: false, problem: info ? 'no published serial' : 'unknown archive' });
      continue;
    }
    try {
      const v = await client.serial(archive, serial);
      const until = v.validUntil ? new Date(v.validUntil).getTime() : Infinity;
      const ok = until >= horizon;
      out.push({ ...base, state: v.state, validUntil: v.validUntil, ok, ...(ok ? {} : { problem: `expires ${v.validUntil}` }) });
    } catch (e) {
      if (isAptfreezeError(e) && (e.code === 'GONE' || e.code === 'NOT_FOUND')) {
        out.push({ ...base, state: e.code === 'GONE' ? 'collected' : null, validUntil: null, ok: false, problem: e.code === 'GONE' ? 'gone (collected)' : 'unknown serial' });
      } else throw e;
    }
  }
  return out;
}
