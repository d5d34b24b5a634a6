"""Selection: executed samples to the SFT dataset (docs/method.md, "Stage 5"), and its export."""
