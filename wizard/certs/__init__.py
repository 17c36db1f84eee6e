"""Which keys and certificates this server's answers call for: issue, reuse, revoke."""
