"""Sample types: the field model and the ``@packable`` decorator."""
