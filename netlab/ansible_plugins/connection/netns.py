# netlab: an Ansible connection to a Linux network namespace on the controller.
# GNU General Public License v3.0+ (it subclasses ansible-core's local connection plugin)

from __future__ import annotations

DOCUMENTATION = """
    name: netns
    short_description: run tasks inside a network namespace on the controller
    description:
        - Like the local connection, but every command runs under C(ip netns exec NAME), where
          NAME is the host's C(ansible_host), in a UTS namespace of its own named after the host
          (the last part of NAME), so C(hostname) says the lab host's name, and a task that sets the
          hostname renames that namespace, never the machine. Files are copied on the shared file
          system.
    author: netlab developers
    options:
        become_success_timeout:
            type: int
            default: 10
            description: Seconds to wait for become to succeed (as for the local connection).
            vars:
                - name: ansible_local_become_success_timeout
        become_strip_preamble:
            type: bool
            default: true
            description: Strip become output preceding the command (as for the local connection).
            vars:
                - name: ansible_local_become_strip_preamble
    extends_documentation_fragment:
        - connection_pipelining
"""

import shlex

from ansible.plugins.connection.local import Connection as LocalConnection


class Connection(LocalConnection):
    transport = "netns"

    def exec_command(self, cmd, in_data=None, sudoable=True):
        namespace = self._play_context.remote_addr
        host = namespace.rsplit(".", 1)[-1]  # netlab.LAB.HOST
        # `ip netns exec` (not nsenter) also remounts /sys for the namespace, so tools inside
        # see its interfaces. A network namespace has no hostname: each command gets a UTS
        # namespace named after the host, as `netlab exec` does (nothing is left to clean up).
        named = 'hostname "$0" && exec /bin/sh -c "$1"'
        wrapped = (f"ip netns exec {shlex.quote(namespace)} unshare --uts /bin/sh -c {shlex.quote(named)} "
                   f"{shlex.quote(host)} {shlex.quote(cmd)}")
        return super().exec_command(wrapped, in_data=in_data, sudoable=sudoable)
