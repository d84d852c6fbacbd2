"""Example workflows used by the README, the demo and the benchmarks."""
