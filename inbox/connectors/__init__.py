"""Platform adapters: one package per platform, the shared contract in ``base``."""
