import type { Router } from 'express';
import type { AppDeps } from './app.ts';

/** GET /api/provenance. */
export function routes(_r: Router, _deps: AppDeps): void {}
