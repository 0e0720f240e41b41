import type { FailureReason } from './manifest.ts';

/** A failure the manifest reports with a reason the operator can act on (TracerMissing, KernelUnsupported...). */
export class RunnerError extends Error {
  override name = 'RunnerError';
  readonly reason: FailureReason;

  constructor(reason: FailureReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}
