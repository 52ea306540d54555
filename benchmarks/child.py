"""Measure a call in a fresh Python process: its wall time and its peak resident memory.

A fresh process, so the peak (``VmHWM`` in ``/proc/self/status``) belongs to the call alone:
the setup code runs first (imports, records, a small call that loads the compiled kernels), then
the peak is reset to the current resident size (``/proc/self/clear_refs``) and the call is
timed. ``peak_extra_mb`` is the call's peak beyond what the process held before it (its
inputs, the interpreter and the libraries); ``peak_mb`` the process's peak overall.

``stages`` (optional) names functions to time inside the call, as ``"module:attribute"``: each
is wrapped before the call and its total seconds are reported, so one run gives the breakdown.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

BENCH_DIR = Path(__file__).parent

_TEMPLATE = """
import collections, importlib, json, sys, time
sys.path.insert(0, {bench_dir!r})
from stage_timing import timed

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])

STAGES = collections.defaultdict(float)
{setup}
for spec in {stages!r}:
    module, name = spec.split(":")
    owner = importlib.import_module(module)
    setattr(owner, name, timed(getattr(owner, name), STAGES, spec))
try:
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
except OSError:
    pass
base = peak_kb()
start = time.perf_counter()
{call}
seconds = time.perf_counter() - start
peak = peak_kb()
print(json.dumps(dict(seconds=seconds, peak_extra_mb=(peak - base) / 1024, peak_mb=peak / 1024,
                      stages=dict(STAGES), **dict(globals().get("REPORT", {{}})))))
"""


def measure(setup: str, call: str, stages: tuple[str, ...] = (), timeout: float = 900) -> dict:
    """Run ``setup`` then ``call`` (Python source) in a fresh interpreter; returns the JSON
    report: seconds, peak_extra_mb, peak_mb, stages, and whatever the code put in ``REPORT``."""
    code = _TEMPLATE.format(bench_dir=str(BENCH_DIR), setup=textwrap.dedent(setup),
                            call=textwrap.dedent(call), stages=tuple(stages))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"benchmark child failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
