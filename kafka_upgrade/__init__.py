"""kafka-upgrade: zero-downtime rolling upgrades of Apache Kafka, orchestrated by Prefect."""

__version__ = "0.1.0"
