"""``atdata appview ...`` subcommands (discovered by ``atdata.cli.main``)."""
