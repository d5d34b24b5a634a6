"""Prompt-masked SFT of the base model on its own data (TRL), with the paper's recipe."""
