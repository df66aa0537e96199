"""A seccomp filter that keeps a root platform's builds out of new user namespaces and keyrings.

A root platform's sandbox has no user namespace of its own (the build runs as
the real user `dp-build`, see `bwrap`), so bwrap's `--disable-userns` is not
available there, and an unprivileged process may create user namespaces. One
gives it no power over the sandbox's namespaces, but it does give it every
capability inside a namespace of its own: the kernel surface most privilege
escalations start from. No build needs that, so this filter refuses it:

- `unshare` and `clone` with CLONE_NEWUSER: EPERM;
- `clone3` (whose flags sit in memory a filter cannot read): ENOSYS, so C
  libraries fall back to `clone` (what container runtimes do too);
- the kernel keyring calls (`add_key`, `request_key`, `keyctl`): EPERM, since
  a user's keyrings are shared by all its processes, so by every build;
- other system call ABIs than the machine's own (i386 or x32 on x86_64, whose
  numbers differ): EPERM, so they cannot get round the checks.

Classic BPF by hand (no libseccomp binding needed): `filter_program()` is the
`struct sock_filter` array bwrap's `--seccomp FD` loads.
"""

from __future__ import annotations

import errno
import platform
import struct

__all__ = ["filter_program"]

_CLONE_NEWUSER = 0x10000000
_X32_SYSCALL_BIT = 0x40000000

# machine → (AUDIT_ARCH_*, unshare, clone, clone3, (add_key, request_key, keyctl))
_ARCHES = {
    "x86_64": (0xC000003E, 272, 56, 435, (248, 249, 250)),
    "aarch64": (0xC00000B7, 97, 220, 435, (217, 218, 219)),
}

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000  # SECCOMP_RET_ALLOW
_ERRNO = 0x00050000  # SECCOMP_RET_ERRNO | errno

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6];
_NR, _ARCH, _ARG0_LOW = 0, 4, 16


def _op(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def filter_program(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture; None where it is not known."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, unshare, clone, clone3, keyrings = arch
    deny = _op(_RET_K, 0, 0, _ERRNO | errno.EPERM)
    head = [
        _op(_LD_W_ABS, 0, 0, _ARCH),
        _op(_JEQ_K, 1, 0, audit_arch),
        deny,  # another ABI
        _op(_LD_W_ABS, 0, 0, _NR),
        _op(_JGE_K, 0, 1, _X32_SYSCALL_BIT),
        deny,  # x32 numbers share x86_64's arch value
    ]
    # Each keyring call jumps to the `deny` right after the dispatch below.
    denied = [_op(_JEQ_K, 3 + len(keyrings) - i, 0, nr) for i, nr in enumerate(keyrings)]
    dispatch = [
        *denied,
        _op(_JEQ_K, 4, 0, unshare),
        _op(_JEQ_K, 3, 0, clone),
        _op(_JEQ_K, 6, 0, clone3),
        _op(_RET_K, 0, 0, _ALLOW),
        deny,
        # unshare / clone: look at the flags (the low 32 bits of the first argument).
        _op(_LD_W_ABS, 0, 0, _ARG0_LOW),
        _op(_JSET_K, 0, 1, _CLONE_NEWUSER),
        deny,
        _op(_RET_K, 0, 0, _ALLOW),
        # clone3
        _op(_RET_K, 0, 0, _ERRNO | errno.ENOSYS),
    ]
    program = [*head, *dispatch]
    return b"".join(program)
