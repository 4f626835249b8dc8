"""Simulated LMS tenants, one sub-package per connector: the only fakes in lmsbridge's
tests and benchmarks. Each imports nothing from the rest of lmsbridge: a stranger that only speaks its
vendor's protocol."""
