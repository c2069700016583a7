"""python -m sglang_router.launch_router: sglang-router with the same flags."""
import sys

from sglang_router import exec_binary


def main(argv=None):
    exec_binary("sglang-router", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
