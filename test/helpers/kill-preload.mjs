// A kill point at every file system mutation, for the crash harness (issue 6): preloaded into a
// CLI run with NODE_OPTIONS=--import=<this file>.
//
//   APTFREEZE_TEST_KILL_FS=<n>      SIGKILL the process just before its n-th mutation
//   APTFREEZE_TEST_KILL_FS=count    count them; at exit, write one line per mutation
//                                   ("<op> <path>") to $APTFREEZE_TEST_KILL_FS_LOG
//
// Mutations: writeFile, rename, unlink, rm, rmdir, link, symlink, copyFile, createWriteStream
// (sync and promise forms, and the callback forms but those of rm, rmdir and unlink). Reads and mkdir are not counted, so a command that starts
// on a consistent data directory counts only the writes of its own operation. This reaches the
// freeze, thaw and gc steps (which carry no named kill point) and every write of a snapshot,
// without touching the service's code: node:module's syncBuiltinESMExports makes the patched
// functions the ones `import { renameSync } from 'node:fs'` sees.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const spec = process.env.APTFREEZE_TEST_KILL_FS;
if (spec) {
  const rawWriteFileSync = fs.writeFileSync;
  const counting = spec === 'count';
  const target = counting ? Infinity : Number(spec);
  const log = [];
  let n = 0;
  const hit = (op, path) => {
    n++;
    if (counting) log.push(`${op} ${String(path)}`);
    else if (n === target) process.kill(process.pid, 'SIGKILL');
  };
  const ops = ['writeFile', 'rename', 'unlink', 'rm', 'rmdir', 'link', 'symlink', 'copyFile'];
  for (const op of ops) {
    // The callback forms of rm, rmdir and unlink are left out: fs.rm({ recursive }) calls them for
    // every entry of a tree, a number that varies from run to run, and would make `n` drift.
    for (const name of ['rm', 'rmdir', 'unlink'].includes(op) ? [`${op}Sync`] : [op, `${op}Sync`]) {
      const orig = fs[name];
      if (typeof orig !== 'function') continue;
      fs[name] = function (...args) {
        hit(name, args[op === 'rename' || op === 'link' || op === 'symlink' || op === 'copyFile' ? 1 : 0]);
        return orig.apply(this, args);
      };
    }
    const p = fs.promises[op];
    if (typeof p === 'function') {
      fs.promises[op] = function (...args) {
        hit(`promises.${op}`, args[op === 'rename' || op === 'link' || op === 'symlink' || op === 'copyFile' ? 1 : 0]);
        return p.apply(this, args);
      };
    }
  }
  const cws = fs.createWriteStream;
  fs.createWriteStream = function (...args) {
    hit('createWriteStream', args[0]);
    return cws.apply(this, args);
  };
  syncBuiltinESMExports();
  if (counting && process.env.APTFREEZE_TEST_KILL_FS_LOG) {
    process.on('exit', () => rawWriteFileSync(process.env.APTFREEZE_TEST_KILL_FS_LOG, log.join('\n') + '\n'));
  }
}
