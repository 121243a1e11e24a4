"""Many confined commands on Ray: ``run_many`` (in order) and ``arun_many`` (asyncio).

    python examples/ray_many.py [RAY_ADDRESS]

Starts a small local Ray instance unless an address is given (``ray start --head`` elsewhere).
Each command runs under ``cordon.sandbox.run`` on the node Ray picks; here each task gets its
own workspace holding the shipped files, and the file it writes comes back.
Needs: pip install 'cordon-sandbox[ray]'.
"""

import asyncio
import sys

import ray
from cordon.integrations.ray import arun_many, run_many
from cordon.sandbox import SandboxPolicy


def main() -> None:
    # "local": always a new local instance, never a cluster some other program left running here.
    ray.init(address=sys.argv[1] if len(sys.argv) > 1 else "local", num_cpus=None if len(sys.argv) > 1 else 2)
    commands = [
        ["sh", "-c", f"wc -w < words.txt > count.txt; echo task {i}: $(cat count.txt) words"]
        for i in range(4)
    ]
    for result in run_many(
        commands,
        policy=SandboxPolicy(),  # network off; the task's workspace is the only writable place
        files={"words.txt": "one two three"},  # shipped with each task
        collect=["count.txt"],  # brought back in result.files
        text=True,
        num_cpus=1,  # any Ray task option
    ):
        print(result.returncode, result.stdout.strip(), result.files["count.txt"], result.node_id[:8])

    async def streamed():
        async for result in arun_many(
            [["uname", "-s"], ["sh", "-c", "touch /etc/x || echo refused"]], text=True
        ):
            print(result.stdout.strip())

    asyncio.run(streamed())
    ray.shutdown()


if __name__ == "__main__":
    main()
