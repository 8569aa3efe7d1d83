"""API tokens: how local-currency schemes and other programs reach the region.

A token is bound to one member (acting as that member's treasurer would)
or to a regional role, carries scopes, and is stored only as a hash: the
secret is shown once, when it is created. Revoked tokens stay listed.
"""
