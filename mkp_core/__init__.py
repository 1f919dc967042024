"""What the server and the agent both need: id rules, wire formats, signatures, certificate checks. No I/O beyond files it is handed."""
