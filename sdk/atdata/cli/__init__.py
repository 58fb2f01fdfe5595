"""The ``atdata`` command: each module in this package (and in ``atdata_registry.commands`` and
``atdata_appview.commands``) contributes subcommands through a ``register(subparsers)`` function."""
