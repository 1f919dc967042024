"""Special rewards (特典): what a municipality's points can buy that money cannot."""
