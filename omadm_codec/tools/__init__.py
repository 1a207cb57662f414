"""The tools layer: what a person runs. The command line (``cli``, ``cli_session``), the
demo (``demo``, ``demo_scenario``) and the simulated device (``simulator``).

May import every layer below it; nothing in the package imports it (but ``__main__``).
"""
