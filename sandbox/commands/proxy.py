"""``sandbox proxy``: run the domain-filtering proxy alone, for tools outside a sandbox."""

from __future__ import annotations

import typer

# The leading newline keeps the indentation through typer's dedent of help texts.
EXAMPLES = """
Then point a tool at it: http_proxy=URL https_proxy=URL all_proxy=SOCKS_URL (printed at start).

Examples:
  sandbox proxy --allow-domain pypi.org --allow-domain files.pythonhosted.org
  sandbox proxy --rules net-pypi --listen 127.0.0.1:0 --net-log net.jsonl
  sandbox proxy --allow-domain '**.github.com' --deny-domain gist.github.com
"""


def register(app: typer.Typer) -> None:
    @app.command("proxy", epilog=EXAMPLES)
    def proxy(
        allow_domain: list[str] = typer.Option(None, "--allow-domain", help="Allowed destination pattern"),
        deny_domain: list[str] = typer.Option(None, "--deny-domain", help="Denied pattern (wins)"),
        resolve: list[str] = typer.Option(None, "--resolve", help="Pin HOST=ADDR (HOST:ADDR also works)"),
        listen: str = typer.Option("127.0.0.1:3128", "--listen", help="HTTP/CONNECT (and SOCKS5) address"),
        socks: str = typer.Option(None, "--socks", help="Extra SOCKS5 address, e.g. 127.0.0.1:1080"),
        net_log: str = typer.Option(None, "--net-log", help="Append one JSON line per decision"),
        rules: list[str] = typer.Option(None, "--rules", help="Take network_rule entries from a rules file"),
        credential: str = typer.Option(
            None, "--credential", help="Proxy password (default: random, printed); 'none' disables"
        ),
    ) -> None:
        """Run the proxy in the foreground; prints its URLs (with the credential) and serves until killed."""
        import signal
        import sys
        import threading

        from cordon.netproxy.api import start
        from cordon.netproxy.hosts import HostError, canonical_host
        from cordon.netproxy.patterns import PatternError

        def address(text: str, option: str) -> tuple[str, int]:
            host, sep, port = text.rpartition(":")
            try:
                if not sep or not port.isdigit() or int(port) > 65535:
                    raise HostError("expected HOST:PORT (PORT 0 = any free port), e.g. 127.0.0.1:3128")
                return canonical_host(host), int(port)
            except HostError as e:
                raise _fail(f"{option} {text!r}: {e}") from None

        allow, deny = list(allow_domain or []), list(deny_domain or [])
        if rules:
            from cordon.netproxy.policy import lists_from_rules
            from cordon.policy import load_policy

            try:
                more_allow, more_deny = lists_from_rules(load_policy(*rules).network_rules)
            except Exception as e:  # PolicyError carries file:line:col in its message
                from cordon.policy.shipped import rules_next_step

                hint = rules_next_step(e)
                raise _fail(f"{e}" + (f"\nhint: {hint}" if hint else "")) from None
            allow += more_allow
            deny += more_deny
        pins = [r.replace(":", "=", 1) if "=" not in r else r for r in resolve or []]
        auth: bool | str = True if credential is None else (False if credential == "none" else credential)
        from cordon.sandbox.status import status

        try:
            with status("starting the domain-filtering proxy"):
                p = start(
                    allow,
                    deny,
                    resolve=pins,
                    listen=address(listen, "--listen"),
                    socks=address(socks, "--socks") if socks else None,
                    auth=auth,
                    net_log=net_log,
                )
        except PatternError as e:
            from cordon.sandbox.config import PATTERN_HINT

            raise _fail(f"invalid pattern {e}\nhint: {PATTERN_HINT}") from None
        except OSError as e:
            raise _fail(
                f"cannot listen: {e.strerror or e}; pick another address, e.g. --listen 127.0.0.1:0 (any free port)"
            ) from None
        print(f"http_proxy={p.url}", flush=True)
        print(f"all_proxy={p.socks_url}", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        finally:
            p.stop()
            print(
                f"proxy stopped: {p.server.counts['allow']} allowed, {p.server.counts['deny']} denied",
                file=sys.stderr,
            )


def _fail(message: str) -> typer.Exit:
    import sys

    print(f"sandbox proxy: {message}", file=sys.stderr)
    return typer.Exit(2)
