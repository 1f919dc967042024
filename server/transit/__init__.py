"""Transit exchange: points to a bus company's own card, in the back office."""
