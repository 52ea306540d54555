"""Benchmark suites: ``pytest benchmarks/ --benchmark-only`` (see benchmarks/README.md).

Each group times what a user calls (a public function or a ``heldout`` command) beside a plain
reference in the same run; the summary below prints each group's ratios (reference time / the
call's time, one per reference) and the quantities the tests record in ``benchmark.extra_info``.
Times are medians over a benchmark's rounds: on a shared machine one round in five can take
several times as long (other jobs, or fresh pages of a large output faulted in slowly), and the
median is not moved by it.
Kernel micro-benchmarks are grouped apart and say so in their group name.

A reference timed on a sample of the job records how its time scales to the full job: either
``scale`` (its mean time times this) or ``full_job_seconds`` (the projected time itself, for
references timed in parts); the ratio uses the full-job time. A call measured in a fresh process
records its own time as ``seconds`` (the benchmark's timer then includes process start-up). A
reference named ``..._floor_...`` is a lower bound (a kernel alone): the summary says how many
times its time the call takes.
"""

import platform


def pytest_configure(config):
    config.addinivalue_line("python_files", "bench_*.py")


def job_seconds(bench) -> float:
    """The time of the whole job a benchmark stands for (see the module docstring)."""
    extra = bench.extra_info
    if "full_job_seconds" in extra:
        return float(extra["full_job_seconds"])
    if "seconds" in extra:
        return float(extra["seconds"])
    return bench.stats.median * float(extra.get("scale", 1.0))


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, dict] = {}
    for bench in session.benchmarks:
        groups.setdefault(bench.group or bench.name, {})[bench.name] = bench
    terminalreporter.section("ratios (reference / call, median time of the full job)")
    terminalreporter.write_line(f"machine: {platform.processor() or platform.machine()}, {_cpu_count()} cores")
    for group, benches in groups.items():
        refs = [b for name, b in benches.items() if "reference" in name]
        calls = [b for name, b in benches.items() if "reference" not in name]
        terminalreporter.write_line(f"{group}:")
        for f in calls:
            extra = ", ".join(f"{k}={v}" for k, v in sorted(f.extra_info.items()))
            line = f"  {f.name} {job_seconds(f):.4g} s"
            for ref in refs:
                scaled = " (scaled to the full job)" if {"scale", "full_job_seconds"} & set(ref.extra_info) else ""
                if "floor" in ref.name:  # a lower bound (the kernel alone): say how close the call comes
                    line += f"; {ref.name} {job_seconds(ref):.4g} s: the call takes {job_seconds(f) / job_seconds(ref):.2f}x its time"
                else:
                    line += f"; {ref.name} {job_seconds(ref):.4g} s{scaled}: ratio {job_seconds(ref) / job_seconds(f):.2f}x"
            terminalreporter.write_line(line + (f" [{extra}]" if extra else ""))
        for ref in refs:
            if ref.extra_info:
                extra = ", ".join(f"{k}={v}" for k, v in sorted(ref.extra_info.items()))
                terminalreporter.write_line(f"  {ref.name} {job_seconds(ref):.4g} s [{extra}]")


def _cpu_count():
    import os

    return len(os.sched_getaffinity(0))
