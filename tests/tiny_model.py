"""Build a small randomly initialised GPT-2 and a BPE tokenizer trained on a few strings.

Shared by the test fixture (tiny) and the training benchmark (small); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build_tiny_model(folder: Path, corpus: list[str], *, vocab_size: int = 300,
                     width: int = 32, layers: int = 2, heads: int = 2, positions: int = 2048,
                     **config: Any) -> None:
    import tokenizers
    import torch
    import transformers

    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<unk>", "<|endoftext|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(corpus * 20, trainer)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                               bos_token="<|endoftext|>", unk_token="<unk>")
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    gpt2 = transformers.GPT2Config(vocab_size=len(tok), n_positions=positions, n_embd=width,
                                   n_layer=layers, n_head=heads, eos_token_id=tok.eos_token_id,
                                   bos_token_id=tok.eos_token_id, **config)
    transformers.GPT2LMHeadModel(gpt2).save_pretrained(folder)
