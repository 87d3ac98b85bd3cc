"""The benchmark suite: statusagg against the status writers people run today, side by side on
one local kube-apiserver (``statusagg bench``; docs/benchmarks.md)."""
