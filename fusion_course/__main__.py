"""`python -m fusion_course ...` is the same as the `fusion-course` command."""
from .cli import main

raise SystemExit(main())
