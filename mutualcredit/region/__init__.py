"""The region: one instance's settings and its unit of account.

A region has exactly one row of settings. Its unit's number of decimals is
fixed once transfers exist, since every stored amount depends on it.
"""
