// Types of millennium-updater (index.js).
export interface UpdaterOptions {
  endpoint?: string | string[];
  metadataUrl?: string;
  pubkey?: string | string[];
  currentVersion: string;
  channel?: string;
  appId?: string;
  stateDir?: string;
  installId?: string;
  executable?: string;
  bundleType?: string;
  headers?: Record<string, string>;
  rollbackAfterStarts?: number;
  requireSignedVersion?: boolean;
}
export interface Startup {
  status: 'normal' | 'pending' | 'rolled_back';
  start: number;
  allowed: number;
  rolledBackFrom?: string;
  rolledBackTo?: string;
}
export class UpdaterError extends Error {
  code: number;
  kind: string;
  hint: string | null;
}
/** What the bytes of a progress report are: the full artifact, a delta from the installed one, or (once, nothing
 * downloaded) a delta that could not be used, the full artifact following. */
export type Transfer = 'full' | 'delta' | 'delta_failed';
export class Download {
  install(): Promise<void>;
  installOnExit(): void;
}
export class Update {
  readonly version: string;
  readonly notes: string | null;
  readonly size: number | null;
  readonly usesDelta: boolean;
  readonly deltaSize: number | null;
  download(progress?: (downloaded: number, total: number | null, transfer: Transfer) => void): Promise<Download>;
}
export class Updater {
  constructor(options: UpdaterOptions);
  readonly currentVersion: string;
  startup(): Startup;
  check(): Promise<Update | null>;
  confirmHealthy(): void;
  relaunch(args?: string[]): never;
  applyPendingOnExit(): Promise<boolean>;
  cancel(): void;
  resetCancel(): void;
}
export const version: string;
