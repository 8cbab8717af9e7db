"""The pure core: decisions over plain values, no I/O (no SSH, no Kafka client, no Prefect)."""
