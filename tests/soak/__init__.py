"""Soak tests: the whole system of real processes under steady load for minutes."""
