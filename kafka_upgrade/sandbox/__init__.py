"""The local sandbox: a real Kafka cluster on loopback addresses, reached over real SSH."""
