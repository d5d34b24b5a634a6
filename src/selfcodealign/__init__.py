"""selfcodealign: self-alignment of base code LLMs (the SelfCodeAlign method).

The package turns a base code model into an instruction-following one with data the model writes
and verifies for itself: seeds -> concepts -> instructions -> responses with tests -> sandboxed
execution -> selection -> SFT -> evaluation. Importing it is cheap: heavy libraries (torch, vLLM,
transformers, TRL, Ray) are imported only by the modules that need them.
"""

__version__ = "0.1.0"

from selfcodealign.errors import SelfCodeAlignError

__all__ = ["SelfCodeAlignError", "__version__"]
