"""Members of the region: the co-operatives that trade with each other.

A member is active, suspended (it can neither pay nor be paid) or has left.
A member leaves only with a zero balance and no pending holds, or through a
coordinator's write-off to the commons; either way its history stays.
"""
