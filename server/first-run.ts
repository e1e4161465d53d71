import type { Services } from './services.ts';
import type { SnapshotResult } from './snapshot/run.ts';
import { asAptfreezeError } from './errors.ts';

/** Where the hint tells apt users to keep the service key (apt's documented place for local keyrings). */
const keyringPath = '/etc/apt/keyrings/aptfreeze.gpg';

/**
 * The first run of `serve` with no configuration file (the host's own APT
 * sources): each archive that has no serial yet gets its first snapshot in the
 * background, one archive after the other, right after the server listens, so
 * `npm start` does its main job with no other command. Once an archive's first
 * serial exists, the lines to give apt are printed on stdout.
 *
 * Decision: only the configuration made from the host's sources does this. An
 * archive written in aptfreeze.yaml keeps the documented behaviour: on demand,
 * or at its schedule's next tick.
 */
export async function firstRun(s: Services, snapshot: (archive: string, actor: string) => Promise<SnapshotResult>, baseUrl: string, out: (text: string) => void): Promise<void> {
  for (const a of s.config.archives) {
    if (s.repo.latestSerial(a.name) !== null) continue;
    s.log.info({ archive: a.name }, `first run: taking the first snapshot of ${a.name} (${a.suites.join(', ')})`);
    try {
      const r = await snapshot(a.name, 'first-run');
      out(sourcesHint(baseUrl, a.name, r.serial, a.suites, a.components));
    } catch (e) {
      const err = asAptfreezeError(e);
      // The schedule tries again at its next tick; the daemon keeps serving.
      s.log.error({ archive: a.name, code: err.code }, `first run: the first snapshot of ${a.name} failed: ${err.code}: ${err.message}`);
    }
  }
}

/** The lines an apt user needs for a serial: the key, one one-line source per suite, and the deb822 alternative. */
export function sourcesHint(baseUrl: string, archive: string, serial: string, suites: readonly string[], components: readonly string[]): string {
  const root = `${baseUrl.replace(/\/+$/, '')}/${archive}/${serial}/`;
  return [
    `${archive} ${serial} is ready. To install from it with apt:`,
    `  curl -fsSo ${keyringPath} ${baseUrl.replace(/\/+$/, '')}/keys/aptfreeze.gpg`,
    ...suites.map((suite) => `  deb [signed-by=${keyringPath}] ${root} ${suite} ${components.join(' ')}`),
    `  (or: npx aptfreeze sources ${archive} ${serial} > /etc/apt/sources.list.d/${archive}.sources)`,
    '',
  ].join('\n');
}
