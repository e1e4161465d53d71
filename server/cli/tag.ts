import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { withServices, type GlobalOptions } from './context.ts';
import { cliActor } from './actor.ts';
import { AptfreezeError } from '../errors.ts';
import { withOps } from './ops.ts';
import { resultOf } from '../ops/client.ts';
import { describeTag, listTags, type TagView } from '../tags/query.ts';
import { checkTagName } from '../tags/name.ts';

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function show(t: TagView): string {
  const lines = [`tag ${t.name}: created ${t.createdAt} by ${t.createdBy}, ${t.binaries} binary package(s), ${mib(t.bytes)}`];
  for (const a of t.archives) lines.push(`  ${a.archive}: from serial ${a.serial}, ${a.binaries} binary and ${a.sources} source package(s), ${mib(a.bytes)}, ${a.url}`);
  return `${lines.join('\n')}\n`;
}

/** `aptfreeze tag {create,list,show,delete}`: create and delete are operations (to the daemon when one runs, as the API's), acting as cli:<user>. */
export function register(program: Command, globals: () => GlobalOptions): void {
  const tag = program.command('tag').description('tagged snapshots: permanent partial snapshots from a build manifest');
  tag
    .command('create')
    .description('make a tag from a build manifest (Tails format, YAML or JSON)')
    .argument('<name>')
    .requiredOption('--manifest <file>', 'the build manifest (`aptfreeze manifest` writes one; - for stdin)')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { manifest: string; json?: boolean }) => {
      checkTagName(name);
      let text: string;
      try {
        text = readFileSync(opts.manifest === '-' ? 0 : opts.manifest, 'utf8');
      } catch (e) {
        throw new AptfreezeError('NOT_FOUND', `--manifest ${opts.manifest}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      await withOps(globals(), async (ops) => {
        const t = resultOf<TagView>(await ops.run({ kind: 'tag.create', params: { name, manifest: text }, actor: cliActor() }));
        process.stdout.write(opts.json ? `${JSON.stringify(t, null, 2)}\n` : show(t));
      });
    });
  tag
    .command('list')
    .description('list the tags')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const { listTags } = await import('../tags/query.ts');
      await withServices(globals(), async (s) => {
        const tags = listTags(s);
        if (opts.json) process.stdout.write(`${JSON.stringify(tags, null, 2)}\n`);
        else for (const t of tags) process.stdout.write(`${t.name}  ${t.createdAt}  ${t.createdBy}  ${t.archives.map((a) => `${a.archive}@${a.serial}`).join(' ')}  ${t.binaries} packages  ${mib(t.bytes)}\n`);
      });
    });
  tag
    .command('show')
    .description('a tag: its archives, the serials they came from, package counts, bytes, who made it')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const { describeTag } = await import('../tags/query.ts');
      await withServices(globals(), async (s) => {
        const t = describeTag(s, checkTagName(name));
        if (!t) throw new AptfreezeError('NOT_FOUND', `no tag ${name}`);
        process.stdout.write(opts.json ? `${JSON.stringify(t, null, 2)}\n` : show(t));
      });
    });
  tag
    .command('delete')
    .description('delete a tag (its files are freed by the next gc)')
    .argument('<name>')
    .action(async (name: string) => {
      await withOps(globals(), async (ops) => {
        const t = resultOf<TagView>(await ops.run({ kind: 'tag.delete', params: { name }, actor: cliActor() }));
        process.stdout.write(`deleted tag ${t.name} (${t.archives.map((a) => a.archive).join(', ')})\n`);
      });
    });
}
