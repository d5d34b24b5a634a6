"""Selection: from executed samples to the SFT dataset (METHOD.md, "Stage 5"), and its export."""
