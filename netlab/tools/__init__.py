"""Thin wrappers of external programs and machine-wide facts, shared by providers and images.

Each module wraps one program (or one family): `qemu` (the KVM probe, disk overlays, QMP),
`processes` (the processes netlab started, by PID and command line), `libvirt` (virsh),
`vagrant` (the vagrant CLI and its machine-readable output). They know nothing of labs.
"""
