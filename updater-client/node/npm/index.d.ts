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
export class Download {
  install(): Promise<void>;
  installOnExit(): void;
}
export class Update {
  readonly version: string;
  readonly notes: string | null;
  readonly size: number | null;
  download(progress?: (downloaded: number, total: number | null) => void): Promise<Download>;
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
