"""Hardware behind small interfaces: card readers, printers, scanners."""
