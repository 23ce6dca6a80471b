"""The web console: people sign in with a password and get a server-side session (DESIGN.md, Web console)."""
