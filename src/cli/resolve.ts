import { Command } from 'commander';
import { selectProcesses } from '../runner/filter.ts';
import { resolveContainer } from '../runner/resolve.ts';
import { processFilter, processFilterOptions } from './trace.ts';

export function command(): Command {
  const cmd = new Command('resolve')
    .description(
      "Print, as JSON, the host PIDs of a container found from its pod UID and container ID through /proc/*/cgroup and the container's cgroup (sub-cgroups included): the same code path the runner uses.",
    )
    .requiredOption('--pod-uid <uid>', "the pod's metadata.uid (dashes or underscores)")
    .requiredOption(
      '--container-id <runtime://id>',
      'status.containerStatuses[].containerID, e.g. containerd://<64 hex>',
    );
  processFilterOptions(cmd);
  return cmd.action(async (opts: Record<string, string | undefined>) => {
    const filter = processFilter(opts);
    const resolved = await resolveContainer({ podUID: opts.podUid!, containerID: opts.containerId! });
    const processes = selectProcesses(resolved.processes, filter);
    console.log(
      JSON.stringify(
        {
          pids: processes.map((p) => p.pid),
          processes,
          cgroupPaths: resolved.cgroupPaths,
          ...(resolved.cgroupV2Dir !== undefined
            ? { cgroupV2Dir: resolved.cgroupV2Dir, cgroupId: resolved.cgroupId }
            : {}),
        },
        null,
        2,
      ),
    );
  });
}
