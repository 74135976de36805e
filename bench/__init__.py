"""Benchmarks: runners a person calls (``python -m bench.<name>``), never part of the tests.

Each benchmark writes its own ``## <name>`` section of ``bench/RESULTS.md`` and leaves the
other sections alone. See ``bench/README.md``.
"""
