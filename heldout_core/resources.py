"""How much memory this machine has, for the limits that untrusted sizes must stay within."""

from __future__ import annotations

import os


def physical_memory_bytes() -> int:
    """The machine's memory, or 8 GiB when it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def available_memory_bytes() -> int:
    """Memory available to new allocations now (``MemAvailable``), or half the machine's memory."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return physical_memory_bytes() // 2


def format_bytes(n: int) -> str:
    """``3_221_225_472`` -> ``"3.2 GB"``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
