import type { V1Container, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';

import type { BindMount } from '../runc.ts';
import { ContainerConfigError, fieldValue, type PodAddresses, type PodObjects } from './env.ts';

/** A volume ready on the host: where it is, and whether the kubelet mounts it read-only regardless of volumeMounts. */
export interface PreparedVolume {
  hostPath: string;
  alwaysReadOnly: boolean;
}

function relativeKeyPath(path: string, field: string): string {
  const clean = normalize(path);
  if (isAbsolute(path) || clean.startsWith('..') || clean === '.' || clean === '') {
    throw new ContainerConfigError(`${field}: ${JSON.stringify(path)} must be a relative path without '..'`);
  }
  return clean;
}

async function writeKeys(
  dir: string,
  data: Record<string, Buffer>,
  items: V1KeyToPath[] | undefined,
  defaultMode: number,
  what: string,
): Promise<void> {
  const entries = items?.length
    ? items.map((item) => {
        if (!Object.hasOwn(data, item.key))
          throw new ContainerConfigError(`configuration key ${item.key} not found in ${what}`);
        return {
          path: relativeKeyPath(item.path, `${what} items path`),
          value: data[item.key],
          mode: item.mode ?? defaultMode,
        };
      })
    : Object.entries(data).map(([key, value]) => ({
        path: relativeKeyPath(key, `${what} key`),
        value,
        mode: defaultMode,
      }));
  for (const entry of entries) {
    const file = join(dir, entry.path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, entry.value);
    await chmod(file, entry.mode & 0o777);
  }
}

const hostPathChecks: Record<string, (s: Awaited<ReturnType<typeof stat>>) => boolean> = {
  Directory: (s) => s.isDirectory(),
  File: (s) => s.isFile(),
  Socket: (s) => s.isSocket(),
  CharDevice: (s) => s.isCharacterDevice(),
  BlockDevice: (s) => s.isBlockDevice(),
};

async function prepareHostPath(volume: V1Volume): Promise<string> {
  const { path, type = '' } = volume.hostPath!;
  const field = `volume ${volume.name}: hostPath.path`;
  if (!isAbsolute(path)) throw new ContainerConfigError(`${field} ${JSON.stringify(path)} must be absolute`);
  const current = await stat(path).catch(() => undefined);
  if (type === 'DirectoryOrCreate' && !current) await mkdir(path, { recursive: true, mode: 0o755 });
  else if (type === 'FileOrCreate' && !current) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, '', { mode: 0o644 });
  } else if (type in hostPathChecks) {
    if (!current || !hostPathChecks[type](current)) {
      throw new ContainerConfigError(`hostPath type check failed: ${path} is not a ${type}`);
    }
  } else if (type !== '' && type !== 'DirectoryOrCreate' && type !== 'FileOrCreate') {
    throw new ContainerConfigError(
      `volume ${volume.name}: hostPath.type ${JSON.stringify(type)} is not a hostPath type`,
    );
  } else if (type === '' && !current) {
    // An unset type mounts whatever is there; runc needs something to bind, as kubelet leaves that to the runtime.
    await mkdir(path, { recursive: true });
  }
  return path;
}

/** Writes every volume of a pod below `podDir/volumes`, or points at the host path for hostPath volumes. */
export async function prepareVolumes(
  pod: V1Pod,
  podDir: string,
  objects: PodObjects,
  addresses: PodAddresses,
): Promise<Map<string, PreparedVolume>> {
  const prepared = new Map<string, PreparedVolume>();
  for (const volume of pod.spec?.volumes ?? []) {
    const dir = join(podDir, 'volumes', volume.name);
    if (volume.hostPath) {
      prepared.set(volume.name, { hostPath: await prepareHostPath(volume), alwaysReadOnly: false });
      continue;
    }
    await mkdir(dir, { recursive: true, mode: 0o777 });
    if (volume.emptyDir) {
      await chmod(dir, 0o777);
      prepared.set(volume.name, { hostPath: dir, alwaysReadOnly: false });
    } else if (volume.configMap || volume.secret) {
      const isConfigMap = Boolean(volume.configMap);
      const name = (isConfigMap ? volume.configMap?.name : volume.secret?.secretName) ?? '';
      const source = isConfigMap ? volume.configMap! : volume.secret!;
      const data = (isConfigMap ? objects.configMaps : objects.secrets).get(name);
      if (!data && !source.optional) {
        throw new ContainerConfigError(`${isConfigMap ? 'configmap' : 'secret'} "${name}" not found`);
      }
      await writeKeys(
        dir,
        data ?? {},
        source.items,
        source.defaultMode ?? 0o644,
        `${isConfigMap ? 'configmap' : 'secret'} ${name}`,
      );
      prepared.set(volume.name, { hostPath: dir, alwaysReadOnly: true });
    } else if (volume.downwardAPI || volume.projected) {
      const defaultMode = (volume.downwardAPI ?? volume.projected)?.defaultMode ?? 0o644;
      const sources = volume.downwardAPI ? [{ downwardAPI: volume.downwardAPI }] : (volume.projected?.sources ?? []);
      for (const source of sources) {
        if (source.configMap || source.secret) {
          const isConfigMap = Boolean(source.configMap);
          const ref = (source.configMap ?? source.secret)!;
          const data = (isConfigMap ? objects.configMaps : objects.secrets).get(ref.name ?? '');
          if (!data && !ref.optional)
            throw new ContainerConfigError(`${isConfigMap ? 'configmap' : 'secret'} "${ref.name}" not found`);
          await writeKeys(
            dir,
            data ?? {},
            ref.items,
            defaultMode,
            `${isConfigMap ? 'configmap' : 'secret'} ${ref.name}`,
          );
        } else if (source.downwardAPI) {
          for (const item of source.downwardAPI.items ?? []) {
            if (!item.fieldRef)
              throw new ContainerConfigError(`volume ${volume.name}: downwardAPI items need a fieldRef here`);
            const value = Buffer.from(fieldValue(pod, item.fieldRef, addresses));
            await writeKeys(
              dir,
              { value },
              [{ key: 'value', path: item.path, mode: item.mode }],
              defaultMode,
              `volume ${volume.name}`,
            );
          }
        } else {
          throw new ContainerConfigError(
            `volume ${volume.name}: projected source ${Object.keys(source).join(',')} is not supported by the development cluster`,
          );
        }
      }
      prepared.set(volume.name, { hostPath: dir, alwaysReadOnly: true });
    } else {
      const kind = Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
      throw new ContainerConfigError(
        `volume ${volume.name}: ${kind} volumes are not supported by the development cluster (configMap, secret, emptyDir, hostPath, downwardAPI, projected)`,
      );
    }
  }
  return prepared;
}

/** A container's volumeMounts as bind mounts, honouring subPath and the read-only rule for config volumes. */
export function containerMounts(container: V1Container, volumes: Map<string, PreparedVolume>): BindMount[] {
  return (container.volumeMounts ?? []).map((mount, index) => {
    const volume = volumes.get(mount.name);
    const field = `containers[${container.name}].volumeMounts[${index}]`;
    if (!volume) throw new ContainerConfigError(`${field}: no volume named ${JSON.stringify(mount.name)}`);
    if (!isAbsolute(mount.mountPath)) throw new ContainerConfigError(`${field}.mountPath must be absolute`);
    const subPath = mount.subPath ? relativeKeyPath(mount.subPath, `${field}.subPath`) : '';
    return {
      source: subPath ? join(volume.hostPath, subPath) : volume.hostPath,
      destination: mount.mountPath,
      readOnly: volume.alwaysReadOnly || mount.readOnly === true,
    };
  });
}
