"""Subcommands of the ``fusion-course`` command line, one module each (see ``fusion_course.cli``)."""
