"""One module per subcommand; see ``lvstop.cli`` for the contract each module follows."""
