"""Benchmarks for the speed goals (speed goals are benchmarks, not timed tests): `python -m bench.<name>`."""
