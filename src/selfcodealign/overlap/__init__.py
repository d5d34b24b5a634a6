"""Finding overlap between texts: MinHash near-dedup and benchmark decontamination."""
