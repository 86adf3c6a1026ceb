# netlab: an Ansible connection to a Linux network namespace on the controller.
# GNU General Public License v3.0+ (it subclasses ansible-core's local connection plugin)

from __future__ import annotations

DOCUMENTATION = """
    name: netns
    short_description: run tasks inside a network namespace on the controller
    description:
        - Like the local connection, but every command runs under C(ip netns exec NAME), where
          NAME is the host's C(ansible_host). Files are copied on the shared file system.
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
        # `ip netns exec` (not nsenter) also remounts /sys for the namespace, so tools inside
        # see its interfaces.
        wrapped = f"ip netns exec {shlex.quote(namespace)} /bin/sh -c {shlex.quote(cmd)}"
        return super().exec_command(wrapped, in_data=in_data, sudoable=sudoable)
