"""The sandbox's system-call filter: kernel interfaces a scoring run has no use for are refused.

bubblewrap loads it (`--seccomp FD`) just before it starts the worker, so
every process of the sandbox runs under it and none can lift it. The
denied calls are those that reach kernel state shared with the host or
outside the sandbox's namespaces: the kernel keyrings (keyed by user, so a
run could leave models there for the next one), eBPF, perf events,
userfaultfd and io_uring (large attack surfaces), tracing and reading other
processes, mounting and namespaces, modules, kexec, swap, reboot, the
kernel log, and setting extended attributes (which outlive the wipe of a
folder's entries). A denied call fails with EPERM, as it would for an
unprivileged user, so honest code that probes for a feature falls back.

The program is classic BPF over `struct seccomp_data` (see the kernel's
Documentation/userspace-api/seccomp_filter.rst); system-call numbers are
those of the kernel's unistd headers for x86-64 and arm64. Calls through
another ABI (x32, or 32-bit compatibility on x86-64) are refused whole,
since their numbers differ.
"""

import errno
import platform
import struct

# AUDIT_ARCH_* from linux/audit.h: the machine, with the 64-bit and little-endian flags.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_SYSCALL_BIT = 0x40000000

# System-call numbers from asm/unistd_64.h (x86-64) and asm-generic/unistd.h (arm64).
_DENIED = {
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271), "kcmp": (312, 272),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "mount_setattr": (442, 442),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "fspick": (433, 433), "unshare": (272, 97), "setns": (308, 268),
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264), "fanotify_init": (300, 262),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "swapon": (167, 224), "swapoff": (168, 225),
    "reboot": (169, 142), "acct": (163, 89), "syslog": (103, 116), "lookup_dcookie": (212, 18),
    "quotactl": (179, 60), "quotactl_fd": (443, 443),
    # Extended attributes (POSIX ACLs among them): state on the scratch roots that emptying them leaves,
    # room for hundreds of MiB. Reading and removing them stay allowed: the worker's wipe removes any.
    # setxattrat is 463 in every table since Linux 6.13 (scripts/syscall.tbl).
    "setxattr": (188, 5), "lsetxattr": (189, 6), "fsetxattr": (190, 7), "setxattrat": (463, 463),
}
DENIED_CALLS = tuple(sorted(_DENIED))

# Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_NR_OFFSET, _ARCH_OFFSET = 0, 4  # fields of struct seccomp_data


class UnsupportedMachine(Exception):
    """No system-call table for this machine: the sandbox cannot be built."""


def _instruction(code: int, jump_true: int, jump_false: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jump_true, jump_false, k)


def filter_program(machine: str | None = None) -> bytes:
    """The filter for `machine` (this one by default) as bytes of `struct sock_filter`, ready for bwrap."""
    machine = machine or platform.machine()
    if machine not in _AUDIT_ARCH:
        raise UnsupportedMachine(f"no system-call filter for {machine} (only {', '.join(sorted(_AUDIT_ARCH))})")
    column = 0 if machine == "x86_64" else 1
    numbers = sorted({pair[column] for pair in _DENIED.values()})
    deny = _RET_ERRNO | errno.EPERM
    foreign = _RET_ERRNO | errno.ENOSYS
    # Layout: [arch check] [nr load] [x32 check] [one test per denied number] [allow] [deny] [foreign ABI].
    n = len(numbers)
    program = [
        _instruction(_LD_W_ABS, 0, 0, _ARCH_OFFSET),
        _instruction(_JEQ_K, 0, n + 4, _AUDIT_ARCH[machine]),  # another ABI: to the last instruction
        _instruction(_LD_W_ABS, 0, 0, _NR_OFFSET),
        _instruction(_JGE_K, n + 2, 0, _X32_SYSCALL_BIT) if machine == "x86_64" else _instruction(_JEQ_K, 0, 0, 0),
    ]
    for index, number in enumerate(numbers):
        program.append(_instruction(_JEQ_K, n - index, 0, number))  # to the deny instruction
    program += [_instruction(_RET_K, 0, 0, _RET_ALLOW), _instruction(_RET_K, 0, 0, deny), _instruction(_RET_K, 0, 0, foreign)]
    return b"".join(program)
