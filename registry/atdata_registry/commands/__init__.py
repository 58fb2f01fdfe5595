"""`atdata` subcommands contributed by the registry: login, whoami, logout, dev, publish."""
