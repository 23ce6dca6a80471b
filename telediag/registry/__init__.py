"""The fleet registry: accounts, SIM profiles and devices, as support teams keep them."""
