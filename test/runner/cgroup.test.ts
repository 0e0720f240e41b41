import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cgroupDirectory,
  containerCgroupOf,
  normalizePodUid,
  parseCgroupMounts,
  parseContainerId,
  parseNsPids,
  parseProcCgroup,
} from '../../src/runner/cgroup.ts';

const uid = '6f1c5e0a-3b7d-4c2e-9a8b-0d1e2f3a4b5c';
const uidU = uid.replaceAll('-', '_');
const id = 'a'.repeat(63) + 'b';
const otherId = 'c'.repeat(64);
const otherUid = '11111111-2222-3333-4444-555555555555';

const containerd = parseContainerId(`containerd://${id}`);
const crio = parseContainerId(`cri-o://${id}`);
const docker = parseContainerId(`docker://${id}`);

test('container cgroups of every kubelet layout are recognised, down to sub-cgroups', () => {
  const cases: [string, string, typeof containerd][] = [
    // cgroupfs driver, v1 or v2 (the path is the same), each QoS class; Guaranteed has no QoS level
    ['cgroupfs besteffort', `/kubepods/besteffort/pod${uid}/${id}`, containerd],
    ['cgroupfs burstable', `/kubepods/burstable/pod${uid}/${id}`, containerd],
    ['cgroupfs guaranteed', `/kubepods/pod${uid}/${id}`, containerd],
    // systemd driver: slices with underscores in the UID, runtime-named scopes
    [
      'systemd besteffort',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidU}.slice/cri-containerd-${id}.scope`,
      containerd,
    ],
    [
      'systemd burstable',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidU}.slice/cri-containerd-${id}.scope`,
      containerd,
    ],
    ['systemd guaranteed', `/kubepods.slice/kubepods-pod${uidU}.slice/cri-containerd-${id}.scope`, containerd],
    [
      'systemd cri-o',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidU}.slice/crio-${id}.scope`,
      crio,
    ],
    ['cri-o container sub-cgroup', `/kubepods.slice/kubepods-pod${uidU}.slice/crio-${id}.scope/container`, crio],
    [
      'systemd docker',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidU}.slice/docker-${id}.scope`,
      docker,
    ],
    ['cgroupfs docker', `/kubepods/burstable/pod${uid}/${id}`, docker],
    // systemd-named cgroup used by a cgroupfs runtime: one segment with colons
    [
      'mismatched drivers',
      `/system.slice/containerd.service/kubepods-burstable-pod${uidU}.slice:cri-containerd:${id}`,
      containerd,
    ],
    ['mismatched drivers, guaranteed', `/kubepods-pod${uidU}.slice:cri-containerd:${id}`, containerd],
    ['mismatched drivers cri-o', `/kubepods-besteffort-pod${uidU}.slice:crio:${id}`, crio],
    // nested kubelets (kind, kubelet in a container)
    [
      'kubelet.slice',
      `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${uidU}.slice/cri-containerd-${id}.scope`,
      containerd,
    ],
    ['kind node under docker', `/docker/${otherId}/kubepods/besteffort/pod${uid}/${id}`, containerd],
    ['sub-cgroup made by the container', `/kubepods/besteffort/pod${uid}/${id}/init.scope/worker`, containerd],
  ];
  for (const [name, path, container] of cases) {
    const own = containerCgroupOf(path, uid, container);
    assert.ok(own !== undefined, `${name}: ${path} not recognised`);
    assert.ok(path.startsWith(own), name);
    assert.ok(own.endsWith(id) || own.endsWith(`${id}.scope`), `${name}: container cgroup ${own}`);
  }
});

test('decoys are never taken for the container', () => {
  const decoys: [string, string, typeof containerd][] = [
    ['CRI-O monitor of the same container', `/kubepods.slice/kubepods-pod${uidU}.slice/crio-conmon-${id}.scope`, crio],
    ['another container of the same pod', `/kubepods/besteffort/pod${uid}/${otherId}`, containerd],
    ['the same container ID under another pod', `/kubepods/besteffort/pod${otherUid}/${id}`, containerd],
    ['the pod cgroup itself (pause and friends)', `/kubepods/besteffort/pod${uid}`, containerd],
    ['container ID without any pod', `/system.slice/${id}`, containerd],
    ['scope of another runtime', `/kubepods.slice/kubepods-pod${uidU}.slice/docker-${id}.scope`, containerd],
    ['ID as a prefix of a longer name', `/kubepods/pod${uid}/${id}x`, containerd],
    [
      'colon form of another pod',
      `/kubepods-besteffort-pod${otherUid.replaceAll('-', '_')}.slice:cri-containerd:${id}`,
      containerd,
    ],
    ['container before the pod segment', `/${id}/kubepods/pod${uid}`, containerd],
    ['host process', '/', containerd],
    ['pod UID inside a longer segment', `/kubepods/xpod${uid}/${id}`, containerd],
  ];
  for (const [name, path, container] of decoys) {
    assert.equal(containerCgroupOf(path, uid, container), undefined, `${name}: ${path} was taken`);
  }
});

test('container IDs and pod UIDs are checked, with errors naming the field', () => {
  assert.deepEqual(parseContainerId(`cri-o://${id}`), { runtime: 'cri-o', id });
  assert.throws(() => parseContainerId(id), /containerID: expected <runtime>:\/\/<id>/);
  assert.throws(() => parseContainerId(`rkt://${id}`), /runtime containerd, cri-o or docker/);
  assert.throws(() => parseContainerId('containerd://abc'), /64 lower-case hex/);
  assert.throws(() => parseContainerId(`containerd://${id}/../x`), /64 lower-case hex/);
  assert.equal(normalizePodUid(uidU), uid);
  assert.equal(normalizePodUid(uid.toUpperCase()), uid);
  assert.equal(normalizePodUid('0123456789abcdef0123456789abcdef'), '0123456789abcdef0123456789abcdef');
  assert.throws(() => normalizePodUid('../../etc'), /podUID: expected a pod UID/);
});

test('/proc/PID/cgroup lines keep colons in paths; NSpid gives the innermost PID', () => {
  const lines = parseProcCgroup(
    `12:cpu,cpuacct:/kubepods/pod${uid}/${id}\n1:name=systemd:/a:b:c\n0::/kubepods-pod${uidU}.slice:cri-containerd:${id}\n`,
  );
  assert.deepEqual(lines[0], { hierarchyId: 12, controllers: ['cpu', 'cpuacct'], path: `/kubepods/pod${uid}/${id}` });
  assert.equal(lines[1]!.path, '/a:b:c');
  assert.deepEqual(lines[2], {
    hierarchyId: 0,
    controllers: [],
    path: `/kubepods-pod${uidU}.slice:cri-containerd:${id}`,
  });
  assert.deepEqual(parseNsPids('Name:\tx\nNSpid:\t4242\t17\t1\nPPid: 1\n'), [4242, 17, 1]);
  assert.deepEqual(parseNsPids('Name:\tx\n'), []);
});

test('cgroup directories are found through mountinfo, v1 by controller and v2, with cgroup namespaces', () => {
  const mountinfo = [
    '30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw',
    '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
    '32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
    '33 30 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
    '34 30 0:30 /kubepods /mnt/pids rw - cgroup cgroup rw,pids',
  ].join('\n');
  const mounts = parseCgroupMounts(mountinfo);
  assert.equal(mounts.length, 4);
  const p = `/kubepods/pod${uid}/${id}`;
  assert.equal(cgroupDirectory({ hierarchyId: 0, controllers: [], path: p }, mounts), `/sys/fs/cgroup/unified${p}`);
  assert.equal(
    cgroupDirectory({ hierarchyId: 4, controllers: ['cpu', 'cpuacct'], path: p }, mounts),
    `/sys/fs/cgroup/cpu,cpuacct${p}`,
  );
  assert.equal(
    cgroupDirectory({ hierarchyId: 1, controllers: ['name=systemd'], path: p }, mounts),
    `/sys/fs/cgroup/systemd${p}`,
  );
  assert.equal(
    cgroupDirectory({ hierarchyId: 2, controllers: ['pids'], path: p }, mounts),
    `/mnt/pids/pod${uid}/${id}`,
  );
  assert.equal(cgroupDirectory({ hierarchyId: 3, controllers: ['memory'], path: p }, mounts), undefined);
  // Seen from a private cgroup namespace: matched (the /proc scan still finds the process) but not below our mount.
  const relative = `/../../burstable/pod${uid}/${id}`;
  assert.equal(containerCgroupOf(relative, uid, parseContainerId(`containerd://${id}`)), relative);
  assert.equal(cgroupDirectory({ hierarchyId: 0, controllers: [], path: relative }, mounts), undefined);
});
