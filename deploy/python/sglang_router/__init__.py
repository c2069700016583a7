"""Entry points kept from SGLang's router package, for scripts written for it.

`python -m sglang_router.launch_router ...` and
`python -m sglang_router.launch_server ...` run the C binaries of this
project (sglang-router, sglang-launch-server) with the same flags. Standard
library only.
"""
import os
import shutil
import sys

__all__ = ["find_binary", "exec_binary"]


def find_binary(name):
    """The installed C binary: $SGLANG_ROUTER_BIN_DIR, then PATH, then /usr/bin."""
    here = os.environ.get("SGLANG_ROUTER_BIN_DIR")
    candidates = [os.path.join(here, name)] if here else []
    found = shutil.which(name)
    if found:
        candidates.append(found)
    candidates += [os.path.join("/usr/bin", name), os.path.join("/usr/local/bin", name)]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    sys.stderr.write("sglang_router: cannot find %s (install the sglang-router package, or set "
                     "SGLANG_ROUTER_BIN_DIR)\n" % name)
    sys.exit(2)


def exec_binary(name, args):
    """Replaces this process with the binary: signals and exit status are its own."""
    path = find_binary(name)
    os.execv(path, [path] + list(args))
