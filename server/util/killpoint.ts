/**
 * Crash-test hook: with APTFREEZE_TEST_KILL_AT=<point>[:<n>] in the environment,
 * the process kills itself with SIGKILL the n-th time (default 1st) it passes
 * the named point. Points: the snapshot steps (releases, indices, parse, pool,
 * pool-file, proof, sign, stage, commit, record, latest), those of freeze and
 * gc, and the export to S3 + PostgreSQL (export-upload, export-commit,
 * export-resign, export-latest, export-collect: s3/export.ts). Unset (always,
 * outside tests), it costs one comparison.
 */
const spec = process.env['APTFREEZE_TEST_KILL_AT'];
const [target, nth] = spec ? [spec.split(':')[0], Number(spec.split(':')[1] ?? '1')] : [undefined, 0];
let seen = 0;

export function killPoint(name: string): void {
  if (target === undefined || name !== target) return;
  if (++seen === nth) process.kill(process.pid, 'SIGKILL');
}
