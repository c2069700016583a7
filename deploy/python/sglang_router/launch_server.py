"""python -m sglang_router.launch_server: SGLang's co-launch command line,
run by sglang-launch-server.

The seed's form is `--model-path M --dp-size N [server args] [--router-* args]`:
every flag that is not the launcher's own (and not a --router-* flag) is a
SGLang server argument, so it goes after "--" to every worker.
"""
import sys

from sglang_router import exec_binary

# The launcher's flags that take a value, and those that do not.
VALUED = {"--model-path", "--dp-size", "--host", "--port", "--tp-size", "--worker-base-port",
          "--backend", "--worker-cmd", "--log-dir", "--worker-startup-timeout-secs",
          "--shutdown-grace-secs"}
SWITCHES = {"--restart-workers", "--help", "-h"}


def translate(args):
    """(launcher args, worker args) for sglang-launch-server."""
    own, workers = [], []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if arg == "--":
            workers += args[i + 1:]
            break
        if name in VALUED:
            own.append(arg)
            if "=" not in arg and i + 1 < len(args):
                own.append(args[i + 1])
                i += 1
        elif name in SWITCHES or name.startswith("--router-"):
            own.append(arg)
            # A --router- flag's values (if any) stay with it.
            while name.startswith("--router-") and "=" not in arg and i + 1 < len(args) \
                    and not args[i + 1].startswith("--"):
                own.append(args[i + 1])
                i += 1
        else:
            workers.append(arg)
            while i + 1 < len(args) and not args[i + 1].startswith("--"):
                workers.append(args[i + 1])
                i += 1
        i += 1
    return own, workers


def main(argv=None):
    own, workers = translate(sys.argv[1:] if argv is None else argv)
    exec_binary("sglang-launch-server", own + (["--"] + workers if workers else []))


if __name__ == "__main__":
    main()
