// A kill point at every file system mutation, for the crash harness (issue 6): preloaded into a
// CLI run with NODE_OPTIONS=--import=<this file>.
//
//   APTFREEZE_TEST_KILL_FS=<n>      SIGKILL the process just before its n-th mutation
//   APTFREEZE_TEST_KILL_FS=count    count them; at exit, write one line per mutation
//                                   ("<op> <path>") to $APTFREEZE_TEST_KILL_FS_LOG
//
//   APTFREEZE_TEST_POWER_JOURNAL=<file>  also journal every mutation for a power cut (below)
//
// Mutations: writeFile, rename, unlink, rm, rmdir, link, symlink, copyFile, createWriteStream, open for writing
// (sync and promise forms, and the callback forms but those of rm, rmdir and unlink). Reads and mkdir are not counted, so a command that starts
// on a consistent data directory counts only the writes of its own operation. This reaches the
// freeze, thaw and gc steps (which carry no named kill point) and every write of a snapshot,
// without touching the service's code: node:module's syncBuiltinESMExports makes the patched
// functions the ones `import { renameSync } from 'node:fs'` sees.
import fs from 'node:fs';
import cp from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

// Power cut (issue 11): with APTFREEZE_TEST_POWER_JOURNAL=<file> (and APTFREEZE_TEST_POWER_BACKUP=<dir>
// on the same filesystem), every mutation is also journaled, one JSON line as it happens, so that
// after the kill the harness (test/helpers/power-cut.ts) can drop what an fsync had not made
// durable yet. Records: {t:'new',p} a directory entry made (file, link, symlink, directory);
// {t:'rename',from,to,backup?} (the replaced file kept at `backup`); {t:'remove',p,backup} (the
// removal is made by renaming the entry to `backup`, so it can be put back); {t:'data',ino} a
// file's contents written; {t:'fsync',ino,dir} an fsync of a file or a directory; {t:'barrier'}
// the whole filesystem flushed (`sync --file-system`).
const journalPath = process.env.APTFREEZE_TEST_POWER_JOURNAL;
if (journalPath) {
  const backupDir = process.env.APTFREEZE_TEST_POWER_BACKUP;
  const raw = {};
  for (const n of ['openSync', 'writeSync', 'closeSync', 'lstatSync', 'fstatSync', 'renameSync', 'linkSync', 'symlinkSync', 'readlinkSync', 'mkdirSync', 'readdirSync', 'existsSync']) raw[n] = fs[n];
  const jfd = raw.openSync(journalPath, 'a');
  let backups = 0;
  const rec = (r) => raw.writeSync(jfd, JSON.stringify(r) + '\n');
  const exists = (p) => {
    try {
      raw.lstatSync(p);
      return true;
    } catch {
      return false;
    }
  };
  const inoOf = (p) => {
    try {
      return raw.lstatSync(p).ino;
    } catch {
      return null;
    }
  };
  const str = (p) => (p instanceof URL ? p.pathname : String(p));
  const writeFlags = (f) => (typeof f === 'number' ? (f & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0 : /[wa+]/.test(String(f ?? 'r')));
  const nextBackup = () => `${backupDir}/${process.pid}-${++backups}`;
  /** Keeps a copy of an entry about to be replaced: a hard link of a file, a new symlink of a symlink. */
  const keep = (p) => {
    let st;
    try {
      st = raw.lstatSync(p);
    } catch {
      return undefined;
    }
    const b = nextBackup();
    if (st.isSymbolicLink()) raw.symlinkSync(raw.readlinkSync(p), b);
    else if (st.isFile()) raw.linkSync(p, b);
    else return undefined;
    return b;
  };
  /** Each directory mkdir -p would make, outermost first. */
  const missingDirs = (p) => {
    const out = [];
    for (let d = p; d && d !== '/' && !exists(d); d = d.slice(0, d.lastIndexOf('/')) || '/') out.unshift(d);
    return out;
  };
  const wrapSync = (name, around) => {
    const orig = fs[name];
    fs[name] = function (...args) {
      return around(args, () => orig.apply(this, args));
    };
  };
  const wrapAsync = (name, around) => {
    const orig = fs.promises[name];
    fs.promises[name] = async function (...args) {
      return around(args, () => orig.apply(this, args));
    };
  };
  const both = (name, around) => {
    wrapSync(`${name}Sync`, around);
    wrapAsync(name, around);
  };
  const afterNewFile = (p, isNew) => {
    if (isNew) rec({ t: 'new', p });
    const ino = inoOf(p);
    if (ino !== null) rec({ t: 'data', ino });
  };
  both('writeFile', (args, call) => {
    if (typeof args[0] === 'number' || typeof args[0]?.fd === 'number') return call();
    const p = str(args[0]);
    const isNew = !exists(p);
    const r = call();
    if (r && typeof r.then === 'function') return r.then((v) => (afterNewFile(p, isNew), v));
    afterNewFile(p, isNew);
    return r;
  });
  both('copyFile', (args, call) => {
    const p = str(args[1]);
    const isNew = !exists(p);
    const r = call();
    if (r && typeof r.then === 'function') return r.then((v) => (afterNewFile(p, isNew), v));
    afterNewFile(p, isNew);
    return r;
  });
  wrapSync('openSync', (args, call) => {
    if (!writeFlags(args[1])) return call();
    const p = str(args[0]);
    const isNew = !exists(p);
    const fd = call();
    if (isNew) rec({ t: 'new', p });
    rec({ t: 'data', ino: raw.fstatSync(fd).ino });
    return fd;
  });
  wrapAsync('open', async (args, call) => {
    if (!writeFlags(args[1])) return call();
    const p = str(args[0]);
    const isNew = !exists(p);
    const h = await call();
    if (isNew) rec({ t: 'new', p });
    rec({ t: 'data', ino: raw.fstatSync(h.fd).ino });
    return h;
  });
  const fsyncRec = (fd) => {
    const st = raw.fstatSync(fd);
    rec({ t: 'fsync', ino: st.ino, dir: st.isDirectory() });
  };
  for (const name of ['fsyncSync', 'fdatasyncSync']) {
    wrapSync(name, (args, call) => {
      const r = call();
      fsyncRec(args[0]);
      return r;
    });
  }
  const fhProto = Object.getPrototypeOf(await fs.promises.open('/dev/null', 'r').then(async (h) => (await h.close(), h)));
  for (const name of ['sync', 'datasync']) {
    const orig = fhProto[name];
    fhProto[name] = async function (...args) {
      const r = await orig.apply(this, args);
      fsyncRec(this.fd);
      return r;
    };
  }
  const renameAround = (args, call) => {
    const from = str(args[0]);
    const to = str(args[1]);
    const backup = keep(to);
    const done = () => rec({ t: 'rename', from, to, backup });
    const r = call();
    if (r && typeof r.then === 'function') return r.then((v) => (done(), v));
    done();
    return r;
  };
  both('rename', renameAround);
  const newEntry = (idx) => (args, call) => {
    const p = str(args[idx]);
    const r = call();
    if (r && typeof r.then === 'function') return r.then((v) => (rec({ t: 'new', p }), v));
    rec({ t: 'new', p });
    return r;
  };
  both('link', newEntry(1));
  both('symlink', newEntry(1));
  both('mkdir', (args, call) => {
    const p = str(args[0]);
    const made = missingDirs(p);
    const r = call();
    const done = () => {
      for (const d of made) if (exists(d)) rec({ t: 'new', p: d });
    };
    if (r && typeof r.then === 'function') return r.then((v) => (done(), v));
    done();
    return r;
  });
  /** A removal made as a rename to the backup directory (so that it can be undone); errors as the real call gives them. */
  const removeAround = (kind) => (args, call) => {
    const p = str(args[0]);
    let st;
    try {
      st = raw.lstatSync(p);
    } catch {
      return call(); // ENOENT, or nothing to do with force
    }
    if (kind === 'unlink' && st.isDirectory()) return call();
    if (kind === 'rmdir' && (!st.isDirectory() || raw.readdirSync(p).length > 0)) return call();
    if (kind === 'rm' && st.isDirectory() && !args[1]?.recursive) return call();
    const backup = nextBackup();
    raw.renameSync(p, backup);
    rec({ t: 'remove', p, backup });
    return undefined;
  };
  for (const kind of ['rm', 'unlink', 'rmdir']) {
    const around = removeAround(kind);
    wrapSync(`${kind}Sync`, around);
    const orig = fs.promises[kind];
    fs.promises[kind] = async function (...args) {
      return around(args, () => orig.apply(this, args));
    };
  }
  const cwsPower = fs.createWriteStream;
  fs.createWriteStream = function (...args) {
    const p = str(args[0]);
    const isNew = !exists(p);
    const s = cwsPower.apply(this, args);
    s.once('open', (fd) => {
      if (isNew) rec({ t: 'new', p });
      rec({ t: 'data', ino: raw.fstatSync(fd).ino });
    });
    return s;
  };
  const execFileSync = cp.execFileSync;
  cp.execFileSync = function (...args) {
    const r = execFileSync.apply(this, args);
    if (args[0] === 'sync') rec({ t: 'barrier' });
    return r;
  };
  syncBuiltinESMExports();
}


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
  /** Inside a counted call (writeFileSync opens its file through fs.openSync): not counted twice. */
  let inside = 0;
  for (const op of ops) {
    // The callback forms of rm, rmdir and unlink are left out: fs.rm({ recursive }) calls them for
    // every entry of a tree, a number that varies from run to run, and would make `n` drift.
    for (const name of ['rm', 'rmdir', 'unlink'].includes(op) ? [`${op}Sync`] : [op, `${op}Sync`]) {
      const orig = fs[name];
      if (typeof orig !== 'function') continue;
      fs[name] = function (...args) {
        hit(name, args[op === 'rename' || op === 'link' || op === 'symlink' || op === 'copyFile' ? 1 : 0]);
        inside++;
        try {
          return orig.apply(this, args);
        } finally {
          inside--;
        }
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
  // Opening a file for writing (the atomic-write helper's temp file): a point before it is made.
  const forWriting = (f) => (typeof f === 'number' ? (f & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0 : /[wa+]/.test(String(f ?? 'r')));
  const openSyncOrig = fs.openSync;
  fs.openSync = function (...args) {
    if (inside === 0 && forWriting(args[1])) hit('openSync', args[0]);
    return openSyncOrig.apply(this, args);
  };
  const openOrig = fs.promises.open;
  fs.promises.open = function (...args) {
    if (forWriting(args[1])) hit('promises.open', args[0]);
    return openOrig.apply(this, args);
  };
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
