import { AptfreezeError } from '../errors.ts';
import type { OperationDef } from './operation.ts';
import { snapshotOp } from './kinds/snapshot.ts';
import { freezeOp, thawOp, gcOp } from './kinds/release.ts';
import { tokenCreateOp, tokenRevokeOp } from './kinds/tokens.ts';
import { fsckRepairOp } from './kinds/fsck.ts';
import { tagCreateOp, tagDeleteOp } from './kinds/tags.ts';
import { uploadOp, suiteCreateOp, suiteMergeOp, suiteResetOp } from './kinds/uploads.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDef = OperationDef<any, any, any>;

/** Every operation kind; a new writer adds its definition here (ARCHITECTURE.md, "How to add an operation"). */
const defs: readonly AnyDef[] = [snapshotOp, freezeOp, thawOp, gcOp, tokenCreateOp, tokenRevokeOp, fsckRepairOp, tagCreateOp, tagDeleteOp, uploadOp, suiteCreateOp, suiteMergeOp, suiteResetOp];

const byKind = new Map(defs.map((d) => [d.kind, d]));

export function operationDef(kind: string): AnyDef {
  const d = byKind.get(kind);
  if (!d) throw new AptfreezeError('BAD_REQUEST', `unknown operation ${kind}`);
  return d;
}

export const operationKinds = defs.map((d) => d.kind);
