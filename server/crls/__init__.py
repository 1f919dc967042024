"""CRLs of JPKI user-authentication certificates: uploaded by the operator, downloaded by terminals."""
