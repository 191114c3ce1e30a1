"""Orchestration and the CLI: benchmarks, the submission sandbox, the run ledger."""
