"""Errors that the CLI turns into one clear line and an exit code (see DESIGN.md contracts)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 3


class PipelineError(Exception):
    """Bad input or configuration: the run cannot go on (exit code 2).

    The message must name the culprit: file, row, column and what is wrong.
    """

    exit_code = EXIT_BAD_INPUT


class ConfigError(PipelineError):
    """A spec, mapping or study file is wrong.

    ``problems`` holds every ``file:line: key: problem`` line when several were collected
    (see :class:`pipeline.common.specfile.SpecProblems`); the message is those lines joined.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class InputError(PipelineError):
    """A raw or intermediate data file is missing or unreadable."""


class GateFailed(Exception):
    """A validation gate failed: findings above the allowed severity (exit code 1)."""

    exit_code = EXIT_GATE_FAILED
