import { writeFileSync, renameSync } from 'node:fs';
import * as yaml from 'js-yaml';

/** A kubeconfig for the development cluster, written atomically so a watcher never reads half a file. */
export function writeKubeconfig(path: string, options: { server: string; name: string }): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    // Plain HTTP on loopback: @kubernetes/client-node refuses an http:// server unless TLS verification is off
    // (there is no TLS to verify); kubectl and helm accept either.
    clusters: [{ name: options.name, cluster: { server: options.server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: `${options.name}-admin`, user: {} }],
    contexts: [
      { name: options.name, context: { cluster: options.name, user: `${options.name}-admin`, namespace: 'default' } },
    ],
    'current-context': options.name,
    preferences: {},
  };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, yaml.dump(doc), { mode: 0o600 });
  renameSync(tmp, path);
}
