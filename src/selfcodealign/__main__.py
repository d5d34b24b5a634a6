"""`python -m selfcodealign ...`, also for launchers: `accelerate launch -m selfcodealign train`."""

from selfcodealign.cli import main

main()
