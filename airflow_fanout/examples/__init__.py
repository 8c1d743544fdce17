"""Example specs shared by the demo, the example DAGs, the tests and the benchmarks."""
