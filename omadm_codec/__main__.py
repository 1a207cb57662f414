"""``python -m omadm_codec`` and the ``omadm-codec`` script: the command line
(``omadm_codec.tools.cli``) with the sub-commands of the layers above ``tools`` (``loadtest``).
"""

from __future__ import annotations

from .tools.cli import main as _cli_main


def main(argv: list[str] | None = None) -> int:
    from .loadtest.command import add_command

    return _cli_main(argv, extra_commands=(add_command,))


if __name__ == "__main__":
    raise SystemExit(main())
