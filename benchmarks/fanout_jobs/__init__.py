"""The hand-written contenders of the fan-out benchmark (each a spark-submit script), the
pieces they share, and the Spark event-log reader that counts their jobs, stages and bytes."""
