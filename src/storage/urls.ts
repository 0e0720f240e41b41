import type { ArtifactSink } from './index.ts';

/**
 * Set on a TraceJob (any value) to have the controller sign fresh links for all its artifacts, then remove the
 * annotation, as Argo CD does with its refresh annotation. Links are never renewed on their own: how long a result
 * stays reachable by link is the platform team's `presignExpirySeconds`, and each renewal is a deliberate act.
 */
export const REFRESH_URLS_ANNOTATION = 'tracejob.dev/refresh-urls';

export interface LinkedArtifact {
  uri: string;
  url?: string;
  /** RFC 3339, as in `status.artifacts[].urlExpiresAt`. */
  urlExpiresAt?: string;
}

/**
 * `status.artifacts` with links: signs artifacts that have none yet, or every one when `refresh` is set. Artifacts the
 * sink cannot link (file:// URIs) are returned unchanged.
 */
export async function linkArtifacts<T extends LinkedArtifact>(
  sink: ArtifactSink,
  artifacts: readonly T[],
  options: { refresh: boolean },
): Promise<T[]> {
  return Promise.all(
    artifacts.map(async (artifact) => {
      if (artifact.url !== undefined && !options.refresh) return artifact;
      const link = await sink.presign(artifact.uri);
      if (link === undefined) return artifact;
      return { ...artifact, url: link.url, urlExpiresAt: link.expiresAt.toISOString() };
    }),
  );
}
