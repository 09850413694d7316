"""The `kubetask` command line: one module per role or noun."""
