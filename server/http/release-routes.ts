import type { Router } from 'express';
import type { AppDeps } from './app.ts';

/** Freeze, thaw, gc, audit routes under /api. */
export function routes(_r: Router, _deps: AppDeps): void {}
