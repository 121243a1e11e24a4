"""The runner the sandbox-user method starts as the sandbox account.

``python -m sandbox.windows.inner SPEC``: SPEC is the plan as JSON without its
environment and ACL (``win32.runner_command_line``). The outer launcher has already set
the ACLs and put this process in its job; here, as the account, the restricted token is
derived from this process's own token (a normal user may hand a restricted copy of its
own token to CreateProcessAsUserW) and the command starts with this environment.
Exit 125 if anything fails before the command runs.
"""

from __future__ import annotations

import dataclasses
import os
import sys


def main(args: list[str], api=None) -> int:
    from cordon.sandbox.errors import EXIT_SETUP_FAILED, SandboxError
    from cordon.sandbox.windows.plan import METHOD_TOKEN, WindowsPlan
    from cordon.sandbox.windows.win32 import launch

    if len(args) != 1:
        print("usage: python -m sandbox.windows.inner SPEC", file=sys.stderr)
        return EXIT_SETUP_FAILED
    try:
        plan = WindowsPlan.from_json(args[0])
        if plan.method != METHOD_TOKEN or plan.acl:
            raise SandboxError("runner spec must be a restricted-token plan without ACL changes")
        plan = dataclasses.replace(plan, env=dict(os.environ))
        return launch(plan, api)
    except (SandboxError, ValueError) as e:
        print(f"sandbox: windows runner: {e}", file=sys.stderr)
        return EXIT_SETUP_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
