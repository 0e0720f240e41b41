import { createHash } from 'node:crypto';

export interface ImageReference {
  /** Fully qualified as the CRI reports it, e.g. `docker.io/library/busybox:1.36`. */
  name: string;
  repository: string;
  /** `<repository>@sha256:<digest>`; the digest names the image reference, since the host root stands in for it. */
  imageID: string;
  /** Our own tracer image, which runs this checkout's `bin/tracejob.js`. */
  tracer: boolean;
}

export function parseImage(image: string): ImageReference {
  const trimmed = image.trim();
  if (!trimmed || /\s/.test(trimmed)) throw new Error(`image ${JSON.stringify(image)} is not an image reference`);
  const [withoutDigest, digest] = trimmed.split('@');
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const hasTag = colon > lastSlash;
  let repository = hasTag ? withoutDigest.slice(0, colon) : withoutDigest;
  const tag = hasTag ? withoutDigest.slice(colon + 1) : digest ? undefined : 'latest';
  const firstPart = repository.split('/')[0];
  const hasRegistry =
    repository.includes('/') && (firstPart.includes('.') || firstPart.includes(':') || firstPart === 'localhost');
  if (!hasRegistry) repository = `docker.io/${repository.includes('/') ? '' : 'library/'}${repository}`;
  const name = `${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  const sha = digest?.startsWith('sha256:') ? digest : `sha256:${createHash('sha256').update(name).digest('hex')}`;
  return {
    name,
    repository,
    imageID: `${repository}@${sha}`,
    tracer: repository.endsWith('/tracejob'),
  };
}

/** Where the `tracejob` shim appears inside tracer-image containers; prepended to their PATH. */
export const tracerBinDir = '/opt/tracejob/bin';

/** The shim script: runs the checkout's CLI with the checkout's pinned Node. Paths are quoted for sh. */
export function tracerShim(checkoutDir: string): string {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  return `#!/bin/sh\nexec ${quote(`${checkoutDir}/node_modules/.bin/node`)} ${quote(`${checkoutDir}/bin/tracejob.js`)} "$@"\n`;
}

/**
 * The argv a container runs: command+args as Kubernetes combines them with the image's entrypoint. The host root
 * has no entrypoint, so an ordinary image without a command runs `sh` (busybox's default); the tracer image's
 * entrypoint is `tracejob`.
 */
export function containerArgv(
  image: ImageReference,
  command: string[] | undefined,
  args: string[] | undefined,
): string[] {
  if (command?.length) return [...command, ...(args ?? [])];
  if (image.tracer) return ['tracejob', ...(args ?? [])];
  if (args?.length) return args;
  return ['sh'];
}
