"""Municipal staff: the console's principals, their roles, applications to join and invitations."""
