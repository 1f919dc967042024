"""Card readers (PC/SC) and the JPKI application of the My Number card."""
