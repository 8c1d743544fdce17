"""airflow-fanout: one Spark stream (or backfill slice) to many Delta tables, exactly once."""

__version__ = "0.1.0"
