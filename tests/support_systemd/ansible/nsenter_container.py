# An Ansible connection to a container that nothing registered: commands run in the namespaces
# of its PID 1 (nsenter), files go in and out through cat. Used by tests/systemd.rs to run the
# carbon_patcher role against a booted systemd-nspawn container, where neither machinectl nor
# ssh reaches it.

import shlex
import subprocess

from ansible.errors import AnsibleError
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = """
name: nsenter_container
short_description: run commands inside a container through nsenter
description:
  - Enters the mount, UTS, IPC, network, PID and cgroup namespaces of the container's PID 1.
author: carbon-patcher tests
options:
  pid:
    description: The container's PID 1, as the controller sees it.
    required: true
    vars:
      - name: ansible_nsenter_pid
"""

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Connection(ConnectionBase):
    transport = "nsenter_container"
    has_pipelining = True

    def _enter(self):
        pid = str(self.get_option("pid"))
        return ["nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "-C", "--",
                "/usr/bin/env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", "HOME=/root"]

    def _connect(self):
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        p = subprocess.run(self._enter() + ["/bin/sh", "-c", cmd], input=in_data,
                           stdin=None if in_data is not None else subprocess.DEVNULL,
                           capture_output=True)
        return p.returncode, p.stdout, p.stderr

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        with open(in_path, "rb") as f:
            p = subprocess.run(self._enter() + ["/bin/sh", "-c", 'cat > "$1"', "put", out_path],
                               stdin=f, capture_output=True)
        if p.returncode != 0:
            raise AnsibleError(f"cannot write {out_path} in the container: {p.stderr.decode()}")

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        with open(out_path, "wb") as f:
            p = subprocess.run(self._enter() + ["cat", in_path], stdout=f,
                               stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise AnsibleError(f"cannot read {shlex.quote(in_path)} in the container: "
                               f"{p.stderr.decode()}")

    def close(self):
        self._connected = False
