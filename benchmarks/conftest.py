"""Benchmark suites: ``pytest benchmarks/ --benchmark-only`` (see benchmarks/README.md).

Each suite times the project's fast path and a plain reference in the same run, in one
pytest-benchmark group per comparison; the summary below prints each group's ratio
(reference mean time / fast mean time) and any measured quantities the tests record in
``benchmark.extra_info``.
"""

import platform


def pytest_configure(config):
    config.addinivalue_line("python_files", "bench_*.py")


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, dict] = {}
    for bench in session.benchmarks:
        groups.setdefault(bench.group or bench.name, {})[bench.name] = bench
    terminalreporter.section("ratios (reference / fast, mean time)")
    terminalreporter.write_line(f"machine: {platform.processor() or platform.machine()}, {_cpu_count()} cores")
    for group, benches in groups.items():
        refs = [b for name, b in benches.items() if "reference" in name]
        fast = [b for name, b in benches.items() if "reference" not in name]
        for f in fast:
            extra = ", ".join(f"{k}={v}" for k, v in sorted(f.extra_info.items()))
            line = f"{group}: {f.name} {f.stats.mean:.4g} s"
            if refs:
                ref = refs[0]
                # A reference timed on a sample records how many times larger the full job is.
                ref_time = ref.stats.mean * float(ref.extra_info.get("scale", 1.0))
                scaled = " (scaled to the full job)" if "scale" in ref.extra_info else ""
                line += f"; {ref.name} {ref_time:.4g} s{scaled}; ratio {ref_time / f.stats.mean:.1f}x"
            terminalreporter.write_line(line + (f" [{extra}]" if extra else ""))


def _cpu_count():
    import os

    return len(os.sched_getaffinity(0))

